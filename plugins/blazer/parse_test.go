package blazer

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestParseQ1(t *testing.T) {
	all := []Value{
		{"input.voltage", 226}, {"input.voltage.fault", 195}, {"output.voltage", 226},
		{"ups.load", 14}, {"input.frequency", 49}, {"battery.voltage", 27.5}, {"ups.temperature", 30},
	}
	cases := []struct {
		name   string
		reply  string
		values []Value
		bits   string
		err    error
	}{
		{"megatec example", "(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r", all, "00001000", nil},
		{"short", "(226.0 195.0 226.0 014 49.0 27.5 30.0 0000\r", nil, "", ErrShortReply},
		{"empty", "", nil, "", ErrShortReply},
		{"bad start", "#226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r", nil, "", ErrInvalidStart},
		{"echoed command padded", "Q1\r" + string(make([]byte, 50)), nil, "", ErrInvalidStart},
		{"non-numeric fields are skipped", "(226.0 ---.- 226.0 014 49.0 27.5 30.0 00001000\r",
			[]Value{all[0], all[2], all[3], all[4], all[5], all[6]}, "00001000", nil},
		{"nine bits", "(226.0 195.0 226.0 014 49.0 27.5 30.0 000010001\r", all, "", ErrStatusBits},
		{"eight bits and junk", "(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000x\r", all, "00001000", nil},
		{"bits with other digits", "(226.0 195.0 226.0 014 49.0 27.5 30.0 00002000\r", all, "", ErrStatusBits},
		{"missing fields", "(226.0 195.0 226.0                                \r", all[:3], "", ErrParse},
		{"runs of spaces", "(226.0  195.0 226.0 014 49.0 27.5 30.0 00001000\r", all, "00001000", nil},
		{"LF ends the bits", "(226.0 195.0 226.0 014 49.0 27.5 30.0 11111111\n", all, "11111111", nil},
		{"NUL cuts the reply", "(226.0 195.0 226.0\x00014 49.0 27.5 30.0 00001000\r", all[:3], "", ErrParse},
		{"dots and digits", "(002.2.6 000.5 005. 014 49.0 27.5 30.0 00001000\r",
			[]Value{{"input.voltage", 2.2}, {"input.voltage.fault", 0.5}, {"output.voltage", 5}, all[3], all[4], all[5], all[6]}, "00001000", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseQ1([]byte(c.reply))
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if !reflect.DeepEqual(q.Values, c.values) {
				t.Errorf("values %v, want %v", q.Values, c.values)
			}
			if q.Bits != c.bits {
				t.Errorf("bits %q, want %q", q.Bits, c.bits)
			}
		})
	}
}

func TestParseF(t *testing.T) {
	cases := []struct {
		reply  string
		values []Value
		err    error
	}{
		{"#220.0 000 024.0 50.0\r", []Value{{"input.voltage.nominal", 220}, {"input.current.nominal", 0}, {"battery.voltage.nominal", 24}, {"input.frequency.nominal", 50}}, nil},
		{"#220.0 000 024.0 50\r", nil, ErrShortReply},
		{"(220.0 000 024.0 50.0\r", nil, ErrInvalidStart},
		{"#220.0 abc 024.0 50.0\r", []Value{{"input.voltage.nominal", 220}, {"battery.voltage.nominal", 24}, {"input.frequency.nominal", 50}}, nil},
		{"#220.0                 \r", []Value{{"input.voltage.nominal", 220}}, ErrParse},
	}
	for _, c := range cases {
		v, err := ParseF([]byte(c.reply))
		if !errors.Is(err, c.err) || !reflect.DeepEqual(v, c.values) {
			t.Errorf("ParseF(%q) = %v, %v; want %v, %v", c.reply, v, err, c.values, c.err)
		}
	}
}

func TestParseI(t *testing.T) {
	cases := []struct {
		reply string
		want  Vendor
		err   error
	}{
		{"#-------------   ------     VT12046Q  \r", Vendor{"-------------", "------", "VT12046Q"}, nil},
		{"#MEGATEC         SIM-1000   1.00      \r", Vendor{"MEGATEC", "SIM-1000", "1.00"}, nil},
		{"#NOT_A_LIVE_UPS  TESTING    TESTING   \r", Vendor{"NOT_A_LIVE_UPS", "TESTING", "TESTING"}, nil},
		{"#                                     \r", Vendor{}, nil},
		{"#Mfr\x00            Model      Fw        \r", Vendor{"Mfr", "Model", "Fw"}, nil},
		{"#short\r", Vendor{}, ErrShortReply},
		{"FW?\r", Vendor{}, ErrShortReply},
		{"(-------------   ------     VT12046Q  \r", Vendor{}, ErrInvalidStart},
	}
	for _, c := range cases {
		v, err := ParseI([]byte(c.reply))
		if !errors.Is(err, c.err) || v != c.want {
			t.Errorf("ParseI(%q) = %+v, %v; want %+v, %v", c.reply, v, err, c.want, c.err)
		}
	}
}

func TestStrtod(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		used int
	}{
		{"230.0", 230, 5}, {"1.2.3", 1.2, 3}, {".", 0, 0}, {".5", 0.5, 2}, {"5.", 5, 2},
		{"  -3e2x", -300, 6}, {"1e", 1, 1}, {"abc", 0, 0}, {"", 0, 0}, {"+7", 7, 2},
		{"1e400", math.Inf(1), 5},
	}
	for _, c := range cases {
		v, n := strtodPrefix(c.in)
		if v != c.want || n != c.used {
			t.Errorf("strtod(%q) = %v (%d bytes), want %v (%d bytes)", c.in, v, n, c.want, c.used)
		}
	}
	if v, _ := strtodPrefix("nan"); !math.IsNaN(v) {
		t.Errorf("strtod(nan) = %v", v)
	}
}

func TestStrtol(t *testing.T) {
	cases := map[string]int64{"30": 30, " 12x": 12, "-4": -4, "abc": 0, "": 0, "99999999999999999999": math.MaxInt64}
	for in, want := range cases {
		if got := strtol(in); got != want {
			t.Errorf("strtol(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestCFormat(t *testing.T) {
	cases := []struct {
		f    string
		v    float64
		want string
	}{
		{"%.1f", 226, "226.0"}, {"%.2f", 27.4, "27.40"}, {"%.0f", 84.61538, "85"},
		{"%.0f", 0.5, "0"}, {"%.0f", 1.5, "2"}, {"%.2f", -0.8666666, "-0.87"},
		{"%.0f", math.Inf(1), "inf"}, {"%.1f", math.NaN(), "nan"},
	}
	for _, c := range cases {
		if got := cFormat(c.f, c.v); got != c.want {
			t.Errorf("cFormat(%s, %v) = %q, want %q", c.f, c.v, got, c.want)
		}
	}
}

func TestScanFloats(t *testing.T) {
	cases := []struct {
		in   string
		want []float64
	}{
		{"270,100,720,50", []float64{270, 100, 720, 50}},
		{"270, 100, 720, 50", []float64{270, 100, 720, 50}},
		{"270 ,100,720,50", []float64{270}},
		{"270,100,720", []float64{270, 100, 720}},
		{"x", nil},
	}
	for _, c := range cases {
		got, n := scanFloats(c.in, 4)
		if n != len(c.want) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("scanFloats(%q) = %v (%d), want %v", c.in, got, n, c.want)
		}
	}
}

func TestInstCmdBytes(t *testing.T) {
	cases := []struct {
		on, off     int64
		cmd, param  string
		want        string
		wantFailure bool
	}{
		{3, 30, "shutdown.return", "", "S.5R0003\r", false},
		{3, 30, "shutdown.stayoff", "", "S.5R0000\r", false},
		{0, 30, "shutdown.return", "", "S.5\r", false},
		{0, 120, "shutdown.return", "", "S02\r", false},
		{12, 600, "shutdown.return", "", "S10R0012\r", false},
		{9999, 60, "shutdown.return", "", "S01R9999\r", false},
		{3, 600, "shutdown.stayoff", "", "S10R0000\r", false},
		{3, 30, "load.off", "", "S00R0000\r", false},
		{3, 30, "LOAD.ON", "", "C\r", false},
		{3, 30, "beeper.toggle", "", "Q\r", false},
		{3, 30, "test.battery.start", "", "T10\r", false},
		{3, 30, "test.battery.start", "7", "T07\r", false},
		{3, 30, "test.battery.start", "99", "T99\r", false},
		{3, 30, "test.battery.start", "0", "", true},
		{3, 30, "test.battery.start", "100", "", true},
		{3, 30, "test.battery.start", "x", "", true},
		{3, 30, "test.battery.start.quick", "", "T\r", false},
		{3, 30, "test.battery.start.deep", "", "TL\r", false},
		{3, 30, "test.battery.stop", "", "CT\r", false},
		{3, 30, "shutdown.stop", "", "C\r", false},
		{3, 30, "bogus", "", "", true},
	}
	for _, c := range cases {
		dr := &Driver{ondelay: c.on, offdelay: c.off}
		got, err := dr.instcmdBytes(c.cmd, c.param)
		if (err != nil) != c.wantFailure || got != c.want {
			t.Errorf("ondelay %d offdelay %d %s %q: %q, %v; want %q (failure %v)", c.on, c.off, c.cmd, c.param, got, err, c.want, c.wantFailure)
		}
	}
}
