package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var hundred samples
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	cases := []struct {
		s    samples
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{samples{7}, 99, 7},
		{samples{3, 1, 2}, 50, 2},
		{samples{3, 1, 2}, 99, 3},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
	}
	for _, c := range cases {
		if got := c.s.percentile(c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}
