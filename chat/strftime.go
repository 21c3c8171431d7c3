package chat

import (
	"fmt"
	"strings"
	"time"
)

// Strftime formats t as Python's datetime.strftime does in the C locale,
// which is what transformers' strftime_now calls. Unknown directives are
// copied through, as glibc does.
func Strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 >= len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		// glibc flags: "-" drops the padding, "_" pads with spaces.
		pad := byte(0)
		if (format[i] == '-' || format[i] == '_') && i+1 < len(format) {
			pad = format[i]
			i++
		}
		if pad != 0 {
			if v, ok := numericField(t, format[i]); ok {
				s := fmt.Sprintf("%d", v.n)
				if pad == '_' {
					s = fmt.Sprintf("%*d", v.width, v.n)
				}
				b.WriteString(s)
				continue
			}
		}
		switch format[i] {
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'F':
			fmt.Fprintf(&b, "%04d-%02d-%02d", t.Year(), int(t.Month()), t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'T':
			fmt.Fprintf(&b, "%02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
		case 'D', 'x':
			fmt.Fprintf(&b, "%02d/%02d/%02d", int(t.Month()), t.Day(), t.Year()%100)
		case 'X':
			fmt.Fprintf(&b, "%02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
		case 'R':
			fmt.Fprintf(&b, "%02d:%02d", t.Hour(), t.Minute())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'u':
			fmt.Fprintf(&b, "%d", (int(t.Weekday())+6)%7+1)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'z', 'Z':
			// datetime.now() is naive: no zone, empty text.
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

type field struct{ n, width int }

// numericField returns the number a directive prints and its padded width.
func numericField(t time.Time, c byte) (field, bool) {
	switch c {
	case 'd', 'e':
		return field{t.Day(), 2}, true
	case 'm':
		return field{int(t.Month()), 2}, true
	case 'H':
		return field{t.Hour(), 2}, true
	case 'I':
		return field{(t.Hour()+11)%12 + 1, 2}, true
	case 'M':
		return field{t.Minute(), 2}, true
	case 'S':
		return field{t.Second(), 2}, true
	case 'j':
		return field{t.YearDay(), 3}, true
	case 'y':
		return field{t.Year() % 100, 2}, true
	}
	return field{}, false
}
