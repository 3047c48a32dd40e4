// Package jsontext checks JSON request bodies as text, before they are
// decoded: NUL characters and invalid UTF-8, which the server refuses
// everywhere (a decoder would pass NUL through and replace bad bytes
// without a word), and the path of the field that holds a problem. The
// server's input check and the PDP share it.
package jsontext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The problems Problem names (the API's details.reason).
const (
	NUL         = "nul_character"
	InvalidUTF8 = "invalid_utf8"
)

// nulEscape is JSON's escape of the NUL character.
var nulEscape = []byte(`\u0000`)

// Problem finds a NUL character (a raw 0 byte or the escape
// \u0000) or invalid UTF-8 in a JSON text: what is wrong and its offset.
// An escape counts only when its backslash is not itself escaped (an even
// number of backslashes before it): "\\u0000" is the six characters
// \u0000, not a NUL.
func Problem(b []byte) (string, int) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return NUL, i
	}
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return InvalidUTF8, i
			}
			i += n
		}
	}
	if bytes.IndexByte(b, '\\') < 0 { // no escapes at all (most bodies)
		return "", -1
	}
	for from := 0; ; {
		i := bytes.Index(b[from:], nulEscape)
		if i < 0 {
			return "", -1
		}
		i += from
		k := i
		for k > 0 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return NUL, i
		}
		from = i + 1
	}
}

// FieldAt returns the path ("resource.key", "checks[2].user") of the
// JSON value or key holding offset at of b, as far as b parses; "" for
// the top level. It runs only for a body already refused.
func FieldAt(b []byte, at int) string {
	type frame struct {
		obj     bool
		key     string
		wantKey bool
		idx     int
	}
	var st []frame
	path := func(last string) string {
		var sb strings.Builder
		for _, f := range st {
			switch {
			case !f.obj:
				fmt.Fprintf(&sb, "[%d]", f.idx)
			case !f.wantKey:
				if sb.Len() > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(f.key)
			}
		}
		if last != "" {
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(last)
		}
		return strings.ToValidUTF8(strings.ReplaceAll(sb.String(), "\x00", ""), "\uFFFD")
	}
	consumed := func() { // a value of the innermost container ended
		if n := len(st); n > 0 {
			if st[n-1].obj {
				st[n-1].wantKey = true
			} else {
				st[n-1].idx++
			}
		}
	}
	if at < len(b) && b[at] == 0 {
		// A raw NUL is not JSON: parse as if it were a space (valid
		// both in and between strings) to find where it is.
		b = bytes.Clone(b)
		b[at] = ' '
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // the body breaks before at: the field is not known
		}
		top := len(st) - 1
		if s, ok := tok.(string); ok && top >= 0 && st[top].obj && st[top].wantKey {
			if int64(at) < dec.InputOffset() {
				return path(s)
			}
			st[top].key, st[top].wantKey = s, false
			continue
		}
		if int64(at) < dec.InputOffset() {
			if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
				st = st[:top]
			}
			return path("")
		}
		switch tok {
		case json.Delim('{'):
			st = append(st, frame{obj: true, wantKey: true})
		case json.Delim('['):
			st = append(st, frame{})
		case json.Delim('}'), json.Delim(']'):
			st = st[:top]
			consumed()
		default:
			consumed()
		}
	}
}

// Describe names a problem Problem found at offset at of body: the path
// of the field holding it ("" when the body does not parse that far) and
// the message the API answers with.
func Describe(body []byte, reason string, at int) (field, message string) {
	field = FieldAt(body, at)
	what := "a string"
	if field != "" {
		q := field
		if len(q) > 64 {
			q = q[:64] + "…"
		}
		what = "the field " + strconv.Quote(q)
	}
	text := "contains a NUL character (\\u0000)"
	if reason == InvalidUTF8 {
		text = "is not valid UTF-8"
	}
	return field, fmt.Sprintf("invalid request body: %s %s (at byte %d); JSON text must be valid UTF-8 without NUL characters", what, text, at)
}
