package main

import (
	"strconv"
	"strings"
	"time"
)

// strftime formats t as glibc's strftime does in the C locale, which is
// what NUT's upslog uses for %TIME fmt% (it never calls setlocale). Every
// conversion glibc 2.36 knows is here with its flags (_ - 0 ^ #), field
// width and E/O modifiers; an unknown or malformed conversion is copied
// out as written, as glibc does. NUT's output for the same format and time
// is therefore the same bytes.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	strftimeTo(&b, format, t, false)
	return b.String()
}

var (
	weekdays = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	months   = [12]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
)

// spec is the state of one conversion, as glibc's __strftime_internal
// keeps it.
type spec struct {
	b          *strings.Builder
	pad        byte // '_', '-', '0' or 0
	width      int  // -1 when not given
	toUpper    bool
	toLower    bool
	changeCase bool // the '#' flag
}

// add writes s right-aligned in the field width, padded with zeros for
// the '0' flag and spaces otherwise (glibc's add macro).
func (s *spec) add(str string) {
	if d := s.width - len(str); d > 0 {
		fill := " "
		if s.pad == '0' {
			fill = "0"
		}
		s.b.WriteString(strings.Repeat(fill, d))
	}
	s.b.WriteString(str)
}

// cpy is add with the case conversion the flags ask for; lower case wins
// over upper case, as in glibc.
func (s *spec) cpy(str string) {
	switch {
	case s.toLower:
		str = strings.ToLower(str)
	case s.toUpper:
		str = strings.ToUpper(str)
	}
	s.add(str)
}

// number writes v with at least digits digits (or the field width, when
// larger), zero-padded unless the flags say otherwise (glibc's DO_NUMBER).
func (s *spec) number(digits, v int) {
	if s.width > digits {
		digits = s.width
	}
	s.padNumber(digits, strconv.Itoa(v))
}

// spaceNumber is number with space padding unless '0' or '-' was given
// (glibc's DO_NUMBER_SPACEPAD: %e, %k, %l).
func (s *spec) spaceNumber(digits, v int) {
	if s.pad != '0' && s.pad != '-' {
		s.pad = '_'
	}
	s.number(digits, v)
}

// padNumber is glibc's do_number_sign_and_padding for the decimal digits
// num (with a leading '-' when negative).
func (s *spec) padNumber(digits int, num string) {
	if s.pad != '-' {
		if padding := digits - len(num); padding > 0 {
			if s.pad == '_' {
				s.b.WriteString(strings.Repeat(" ", padding))
			} else {
				if num[0] == '-' {
					s.b.WriteByte('-')
					num = num[1:]
				}
				s.b.WriteString(strings.Repeat("0", padding))
			}
			s.width = max(s.width-padding, 0)
		}
	}
	s.cpy(num)
}

// strftimeTo appends the formatted time to b; upper is the '^' state a
// composite conversion (%c, %D, ...) passes down to its parts.
func strftimeTo(b *strings.Builder, f string, t time.Time, upper bool) {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		start := i
		s := spec{b: b, width: -1, toUpper: upper}
	flags:
		for i++; i < len(f); i++ {
			switch f[i] {
			case '_', '-', '0':
				s.pad = f[i]
			case '^':
				s.toUpper = true
			case '#':
				s.changeCase = true
			default:
				break flags
			}
		}
		if i < len(f) && isDigit(f[i]) {
			s.width = 0
			for ; i < len(f) && isDigit(f[i]); i++ {
				if s.width < 1<<20 { // glibc saturates at INT_MAX; no field is that wide
					s.width = s.width*10 + int(f[i]-'0')
				}
			}
		}
		var modifier byte
		if i < len(f) && (f[i] == 'E' || f[i] == 'O') {
			modifier = f[i]
			i++
		}
		if i >= len(f) {
			// '%' and its flags at the end of the format: glibc backs
			// up one character and copies what it read.
			i = len(f) - 1
			s.cpy(f[start:])
			continue
		}
		if !s.convert(f[i], modifier, t) {
			s.cpy(f[start : i+1])
		}
	}
}

// convert does one conversion; false means glibc's bad_format (the
// conversion is unknown or does not take this modifier).
func (s *spec) convert(c, modifier byte, t time.Time) bool {
	noE := modifier == 'E'
	noO := modifier == 'O'
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	yday := t.YearDay() - 1
	wday := int(t.Weekday())
	switch c {
	case '%':
		s.add("%")
	case 'a', 'A':
		if modifier != 0 {
			return false
		}
		if s.changeCase {
			s.toUpper, s.toLower = true, false
		}
		name := weekdays[wday]
		if c == 'a' {
			name = name[:3]
		}
		s.cpy(name)
	case 'b', 'h', 'B':
		if noE {
			return false
		}
		if s.changeCase {
			s.toUpper, s.toLower = true, false
		}
		name := months[t.Month()-1]
		if c != 'B' {
			name = name[:3]
		}
		s.cpy(name)
	case 'c':
		if noO {
			return false
		}
		s.sub("%a %b %e %H:%M:%S %Y", t)
	case 'x':
		if noO {
			return false
		}
		s.sub("%m/%d/%y", t)
	case 'X':
		if noO {
			return false
		}
		s.sub("%H:%M:%S", t)
	case 'D':
		if modifier != 0 {
			return false
		}
		s.sub("%m/%d/%y", t)
	case 'F':
		if modifier != 0 {
			return false
		}
		s.sub("%Y-%m-%d", t)
	case 'R':
		s.sub("%H:%M", t)
	case 'T':
		s.sub("%H:%M:%S", t)
	case 'r':
		s.sub("%I:%M:%S %p", t)
	case 'C':
		y := t.Year()
		c := y / 100
		if y%100 < 0 {
			c--
		}
		s.number(1, c)
	case 'Y':
		if noO {
			return false
		}
		s.number(1, t.Year())
	case 'y':
		s.number(2, (t.Year()%100+100)%100)
	case 'd', 'e', 'H', 'I', 'k', 'l', 'j', 'M', 'm', 'S', 'U', 'W', 'w', 'V', 'g', 'G':
		if noE {
			return false
		}
		switch c {
		case 'd':
			s.number(2, t.Day())
		case 'e':
			s.spaceNumber(2, t.Day())
		case 'H':
			s.number(2, t.Hour())
		case 'I':
			s.number(2, hour12)
		case 'k':
			s.spaceNumber(2, t.Hour())
		case 'l':
			s.spaceNumber(2, hour12)
		case 'j':
			s.number(3, yday+1)
		case 'M':
			s.number(2, t.Minute())
		case 'm':
			s.number(2, int(t.Month()))
		case 'S':
			s.number(2, t.Second())
		case 'U':
			s.number(2, (yday-wday+7)/7)
		case 'W':
			s.number(2, (yday-(wday-1+7)%7+7)/7)
		case 'w':
			s.number(1, wday)
		case 'V':
			_, week := t.ISOWeek()
			s.number(2, week)
		case 'g':
			year, _ := t.ISOWeek()
			s.number(2, (year%100+100)%100)
		case 'G':
			year, _ := t.ISOWeek()
			s.number(1, year)
		}
	case 'u':
		s.number(1, (wday-1+7)%7+1)
	case 'n':
		s.add("\n")
	case 't':
		s.add("\t")
	case 'P', 'p':
		if c == 'P' {
			s.toLower = true
		}
		if s.changeCase {
			s.toUpper, s.toLower = false, true
		}
		if t.Hour() < 12 {
			s.cpy("AM")
		} else {
			s.cpy("PM")
		}
	case 's':
		// glibc pads %s only to the field width, never with leading zeros
		// for the digit count.
		s.padNumber(1, strconv.FormatInt(t.Unix(), 10))
	case 'Z':
		if s.changeCase {
			s.toUpper, s.toLower = false, true
		}
		name, _ := t.Zone()
		s.cpy(name)
	case 'z':
		_, off := t.Zone()
		if off < 0 {
			s.add("-")
			off = -off
		} else {
			s.add("+")
		}
		off /= 60
		s.number(4, off/60*100+off%60)
	default:
		return false
	}
	return true
}

// sub formats a composite conversion and writes it as one field, as
// glibc's subformat does: only '^' reaches the parts.
func (s *spec) sub(format string, t time.Time) {
	var part strings.Builder
	strftimeTo(&part, format, t, s.toUpper)
	str := part.String()
	if s.toUpper {
		str = strings.ToUpper(str)
	}
	s.add(str)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
