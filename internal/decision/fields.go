package decision

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unsafe"
)

// UnknownField names the first field of a v1 check body (bulk: a bulk
// check body) that the API does not take, as a path ("resource.tenat",
// "checks[2].user.nmae"), or "" when every field is known. The check
// routes decode their bodies without huma's schema validation (a second
// full parse of every call), which ignored unknown fields: a misspelt
// "tenat" was decided in the default tenant. This walk reads the names
// only and allocates nothing unless it finds one (or a name is written
// with escapes). On a body that is not JSON it ends too, with an answer
// that means nothing (the caller asks json.Valid before it believes an
// unknown field); attributes and context are free form and not walked.
func UnknownField(body []byte, bulk bool) string {
	w := fieldWalk{b: body}
	if !bulk {
		return w.check(-1)
	}
	if w.peek() != '{' {
		return ""
	}
	w.i++
	for w.next('}') {
		switch name := w.name(); name {
		case "checks":
			if w.peek() != '[' {
				w.skip()
				continue
			}
			w.i++
			for n := 0; w.next(']'); n++ {
				if bad := w.check(n); bad != "" {
					return bad
				}
			}
		case "at_least":
			w.skip()
		default:
			return shown(name)
		}
	}
	return ""
}

type fieldWalk struct {
	b []byte
	i int
}

// check walks one check object: the body's (n < 0) or checks[n].
func (w *fieldWalk) check(n int) string {
	at := func(name string) string {
		if n < 0 {
			return name
		}
		return "checks[" + strconv.Itoa(n) + "]." + name
	}
	if w.peek() != '{' {
		w.skip()
		return ""
	}
	w.i++
	for w.next('}') {
		switch name := w.name(); name {
		case "user":
			if w.peek() != '{' {
				w.skip() // a bare key
				continue
			}
			w.i++
			for w.next('}') {
				switch f := w.name(); f {
				case "key", "attributes":
					w.skip()
				default:
					return at("user." + shown(f))
				}
			}
		case "resource":
			if w.peek() != '{' {
				w.skip()
				continue
			}
			w.i++
			for w.next('}') {
				switch f := w.name(); f {
				case "type", "key", "tenant", "attributes":
					w.skip()
				default:
					return at("resource." + shown(f))
				}
			}
		case "action", "context", "at_least":
			w.skip()
		default:
			return at(shown(name))
		}
	}
	return ""
}

// shown is an unknown name as the answer names it: "" (which would read
// as "none") is shown quoted.
func shown(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

func (w *fieldWalk) peek() byte {
	for w.i < len(w.b) {
		switch c := w.b[w.i]; c {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return c
		}
	}
	return 0
}

// next passes commas and reports whether another member or element
// follows; at the closing byte (or the end) it passes it and reports
// false.
func (w *fieldWalk) next(closing byte) bool {
	for {
		switch w.peek() {
		case ',':
			w.i++
		case closing, 0:
			w.i++
			return false
		default:
			return true
		}
	}
}

// name reads a member's name and its colon. The name shares the body's
// bytes unless it was written with escapes.
func (w *fieldWalk) name() string {
	if w.peek() != '"' {
		w.skip()
		return ""
	}
	s := w.str()
	if w.peek() == ':' {
		w.i++
	}
	return s
}

// str reads a string (at its opening quote), unescaped.
func (w *fieldWalk) str() string {
	start := w.i
	w.i++
	escaped := false
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i += 2
			continue
		case '"':
			w.i++
			if !escaped {
				if w.i-1 == start+1 {
					return ""
				}
				return unsafe.String(&w.b[start+1], w.i-1-(start+1))
			}
			var s string
			_ = json.Unmarshal(w.b[start:w.i], &s)
			return s
		}
		w.i++
	}
	return ""
}

// skip passes over one value of any kind.
func (w *fieldWalk) skip() {
	switch w.peek() {
	case '"':
		w.str()
	case '{', '[':
		depth := 0
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '"':
				w.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.i++
					return
				}
			}
			w.i++
		}
	case 0:
	default: // a number, true, false or null (or, in a body that is not
		// JSON, any byte: always one at least, so every walk ends)
		if j := bytes.IndexAny(w.b[w.i:], ",}] \t\n\r"); j >= 0 {
			w.i += max(j, 1)
		} else {
			w.i = len(w.b)
		}
	}
}
