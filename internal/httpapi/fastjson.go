package httpapi

import (
	"unicode/utf8"
	"unsafe"
)

// A reader of the check bodies the fast path answers: the common shape
// only (plain strings, no escapes, no attributes, no context but an empty
// one). Anything else it reports as not its business (ok false) and the
// general handlers answer the call, errors included.

// fastCheckIn is a parsed check: substrings of the body, which the fast
// path reads into a pooled buffer and parses in place (no allocation), so
// nothing may keep them past the call without copying them.
type fastCheckIn struct {
	user, action, typ, key, tenant string
	// userObject: the user came as {"key": …} (Permit echoes it as given).
	userObject bool
}

type jsonScan struct {
	b string
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c.
func (s *jsonScan) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips white space and reports the next byte (0 at the end).
func (s *jsonScan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string without escapes or control characters, valid UTF-8.
func (s *jsonScan) str() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// object reads {"name": value, …}, handing each name to field, which reads
// the value (false: not ours). A name given twice is not ours either (JSON
// readers differ on which one counts).
func (s *jsonScan) object(field func(name string) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.peek() == '}' {
		s.i++
		return true
	}
	var seen [6]string
	n := 0
	for {
		name, ok := s.str()
		if !ok || !s.consume(':') {
			return false
		}
		for _, prev := range seen[:n] {
			if prev == name {
				return false
			}
		}
		if n == len(seen) {
			return false
		}
		seen[n] = name
		n++
		if !field(name) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// emptyObject reads {}.
func (s *jsonScan) emptyObject() bool {
	return s.consume('{') && s.consume('}')
}

// parseFastCheck reads a check body of the common shape:
// {"user": "k" | {"key": "k"}, "action": "a", "resource": {"type", "key"?,
// "tenant"?}, "context"?: {}}. permit: Permit's /allowed (its body has no
// at_least).
func parseFastCheck(b string, in *fastCheckIn) bool {
	s := jsonScan{b: b}
	var ok bool
	if !s.object(func(name string) bool {
		switch name {
		case "user":
			if s.peek() == '"' {
				in.user, ok = s.str()
				in.userObject = false
				return ok
			}
			in.userObject = true
			return s.object(func(name string) bool {
				switch name {
				case "key":
					in.user, ok = s.str()
					return ok
				case "attributes":
					return s.emptyObject() // none: as if absent
				}
				return false
			})
		case "action":
			in.action, ok = s.str()
			return ok
		case "resource":
			return s.object(func(name string) bool {
				switch name {
				case "type":
					in.typ, ok = s.str()
				case "key":
					in.key, ok = s.str()
				case "tenant":
					in.tenant, ok = s.str()
				case "attributes":
					ok = s.emptyObject()
				default:
					return false
				}
				return ok
			})
		case "context":
			return s.emptyObject()
		}
		return false
	}) {
		return false
	}
	s.ws()
	return s.i == len(s.b) && in.user != "" && in.action != "" && in.typ != ""
}

// appendJSONText appends v as a JSON string, escaped as encoding/json
// escapes with SetEscapeHTML(false), as the general handlers write both
// v1's and Permit's answers (huma's JSON format): <, > and & as they are.
func appendJSONText(b []byte, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, v[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, v[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, v[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, v[start:]...)
	return append(b, '"')
}

// unsafeString is b as a string sharing its bytes (b must not change while
// the string is in use).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
