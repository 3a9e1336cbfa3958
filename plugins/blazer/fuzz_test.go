package blazer

import (
	"regexp"
	"testing"
	"time"
)

// FuzzReplies feeds any bytes to the Q1, F and I reply parsers: they never
// panic, a status reply that parses has eight 0/1 bits, fields come in
// reply order and every value formats as a NUT number.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{
		"(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r",
		"(215.0 195.0 230.0 014 49.0 2.27 30.0 00101000\r",
		"(226.0 ---.- 226.0 014 49.0 27.5 30.0 00001000x\r",
		"#220.0 000 024.0 50.0\r", "#230.0 004 024.0 50.0\r",
		"#-------------   ------     VT12046Q  \r", "#NOT_A_LIVE_UPS  TESTING    TESTING   \r",
		"Q1\r", "", "(", "#", "(\xff\x00 garbage \n 1.2.3 zz 0101\r", "(99999999999999999999999999999999999999 1 1 1 1 1 1 11111111\r",
	} {
		f.Add([]byte(s))
	}
	number := regexp.MustCompile(`^([0-9]+(\.[0-9]+)?|inf)$`)
	f.Fuzz(func(t *testing.T, in []byte) {
		q, err := ParseQ1(in)
		if err == nil {
			if len(q.Bits) != 8 {
				t.Fatalf("bits %q", q.Bits)
			}
			for _, c := range q.Bits {
				if c != '0' && c != '1' {
					t.Fatalf("bits %q", q.Bits)
				}
			}
		}
		check := func(vals []Value, fields []struct{ name, format string }) {
			next := 0
			for _, v := range vals {
				for next < len(fields) && fields[next].name != v.Var {
					next++
				}
				if next == len(fields) {
					t.Fatalf("values out of order or unknown: %v", vals)
				}
				if s := cFormat(fields[next].format, v.Num); !number.MatchString(s) {
					t.Fatalf("%s formats as %q", v.Var, s)
				}
				next++
			}
		}
		check(q.Values, q1Fields)
		fv, _ := ParseF(in)
		check(fv, fFields)
		if v, err := ParseI(in); err == nil {
			if len(v.Mfr) > 15 || len(v.Model) > 10 || len(v.Firmware) > 10 {
				t.Fatalf("vendor fields too long: %+v", v)
			}
		}
	})
}

// fuzzDevice answers every read with the next piece of fuzz input.
type fuzzDevice struct{ data []byte }

func (f *fuzzDevice) next(buf []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, ErrUSBTimeout
	}
	// The first byte says how much of buf this transfer fills.
	n := int(f.data[0]) % (len(buf) + 1)
	f.data = f.data[1:]
	n = copy(buf[:n], f.data)
	f.data = f.data[n:]
	return n, nil
}

func (f *fuzzDevice) Control(rType, _ uint8, _, _ uint16, data []byte, _ time.Duration) (int, error) {
	if rType&0x80 == 0 {
		return len(data), nil
	}
	return f.next(data)
}
func (f *fuzzDevice) InterruptIn(buf []byte, _ time.Duration) (int, error) { return f.next(buf) }
func (f *fuzzDevice) InterruptOut(data []byte, _ time.Duration) (int, error) {
	return len(data), nil
}
func (f *fuzzDevice) Close() error { return nil }

// FuzzSubdrivers feeds any bytes to every USB subdriver as what the device
// answers: no subdriver panics, and replies stay within NUT's buffer.
func FuzzSubdrivers(f *testing.F) {
	f.Add([]byte("\x08(230.0 2\x0830.0 230\x08.0 020 5\x080.0 27.4\x08 25.0 00\x08001001\r\x00"), "Q1\r")
	f.Add([]byte("\x04\x04\x03\x09\x04\x40\x40\x03U\x00P\x00S\x00"), "F\r")
	f.Add([]byte("\x01\x01\x02\x00\x03"), "S.5R0003\r")
	f.Fuzz(func(t *testing.T, in []byte, cmd string) {
		for name, sub := range Subdrivers {
			for _, langid := range []int{-1, 0x409} {
				reply, _ := sub(&fuzzDevice{data: append([]byte(nil), in...)}, cmd, langid)
				if len(reply) > usbSmallBuf && string(reply) != cmd {
					t.Fatalf("%s: %d-byte reply", name, len(reply))
				}
			}
		}
	})
}
