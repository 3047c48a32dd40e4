package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/jsontext"
)

// Every text a request carries into the API (the path, the query string, a
// JSON body) must be valid UTF-8 without NUL characters: PostgreSQL refuses
// both in text, and SQLite would keep them as given. withInputCheck refuses
// such a request before it is routed, for every operation at once (v1, the
// Permit-compatible /v2 and the root decision endpoints), with a message
// naming the part that is wrong.

// inputProblem is what is wrong with a request's text.
type inputProblem struct {
	location string // path, query or body
	field    string // the query parameter or the body's field ("" when unknown)
	reason   string // nul_character or invalid_utf8
	message  string
}

const (
	reasonNUL  = jsontext.NUL
	reasonUTF8 = jsontext.InvalidUTF8
	// reasonEscape: a % in the query string not followed by two hex
	// digits. Go's parser drops such a pair without a word, so the
	// operation would run as if it had not been sent (a DELETE's tenant
	// falling back to the default one).
	reasonEscape = "invalid_escape"
	// reasonSeparator: a ; in a query pair, which Go's parser drops whole.
	reasonSeparator = "invalid_separator"
)

func (p *inputProblem) details() map[string]any {
	d := map[string]any{"location": p.location, "reason": p.reason}
	if p.field != "" {
		d["field"] = p.field
	}
	return d
}

// WithInputCheck answers 400 INVALID_REQUEST (on the Permit-compatible
// routes: Permit's 422 INVALID_INPUT) to a request whose path, query string
// or JSON body holds a NUL character or invalid UTF-8. A JSON body is read
// in full (up to maxBody; a larger one is passed on unchecked, to be
// refused as too large by the operation) and handed on from memory.
func WithInputCheck(maxBody int64, errs ErrorWriter, next http.Handler) http.Handler {
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pathProblem(r.URL.Path)
		if p == nil {
			p = queryProblem(r.URL.RawQuery)
		}
		var held *heldBody
		// A body announced as larger than the limit is not read: the
		// operation refuses it as too large.
		if p == nil && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 && r.ContentLength <= maxBody && jsonMedia(contentType(r.Header)) {
			held, p = holdBody(r, maxBody)
		}
		if p != nil {
			errs(w, r, p.err())
			if held != nil {
				held.release()
			}
			return
		}
		next.ServeHTTP(w, r)
		if held != nil {
			held.release()
		}
	})
}

// err is p as the error the API answers (INVALID_REQUEST with p's
// location, field and reason in its details).
func (p *inputProblem) err() error {
	return &gatehouse.Error{Code: gatehouse.CodeInvalidRequest, Message: p.message, Details: p.details()}
}

// cleanASCII reports whether s has only printable ASCII (the common case,
// needing no closer look).
func cleanASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// textProblem names what is wrong with s as text ("" when nothing).
func textProblem(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return reasonNUL
	}
	if !utf8.ValidString(s) {
		return reasonUTF8
	}
	return ""
}

func describe(reason string) string {
	if reason == reasonNUL {
		return "contains a NUL character"
	}
	return "is not valid UTF-8"
}

// pathProblem checks the decoded path, naming the segment at fault.
func pathProblem(path string) *inputProblem {
	if cleanASCII(path) {
		return nil
	}
	for _, seg := range strings.Split(path, "/") {
		if reason := textProblem(seg); reason != "" {
			return &inputProblem{location: "path", reason: reason,
				message: fmt.Sprintf("invalid path: the segment %s %s; paths must be valid UTF-8 without NUL characters (%%00)", quote(seg), describe(reason))}
		}
	}
	return nil
}

// queryProblem checks every parameter of a raw query string, name and
// value, decoded as the operations decode them. A pair that does not
// decode (a bad %-escape) is refused too: the operations would never see
// it.
func queryProblem(raw string) *inputProblem {
	if raw == "" || (cleanASCII(raw) && strings.IndexByte(raw, '%') < 0 && strings.IndexByte(raw, ';') < 0) {
		return nil
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.IndexByte(pair, ';') >= 0 {
			// Go's parser drops a pair holding a ; (once a separator)
			// without a word, as it does a bad escape.
			name, err := url.QueryUnescape(k)
			if err != nil {
				name = k
			}
			return &inputProblem{location: "query", field: strings.ToValidUTF8(name, "\uFFFD"), reason: reasonSeparator,
				message: fmt.Sprintf("invalid query parameter %s: a ; in the query string is not a separator; send it as %%3B, and separate parameters with &", quote(name))}
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			return &inputProblem{location: "query", field: strings.ToValidUTF8(k, "\uFFFD"), reason: reasonEscape,
				message: fmt.Sprintf("invalid query parameter name %s: a %% must be followed by two hex digits (send a literal %% as %%25)", quote(k))}
		}
		if reason := textProblem(name); reason != "" {
			return &inputProblem{location: "query", field: strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), "\uFFFD"), reason: reason,
				message: fmt.Sprintf("invalid query parameter name %s: it %s; the query string must be valid UTF-8 without NUL characters (%%00)", quote(name), describe(reason))}
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return &inputProblem{location: "query", field: name, reason: reasonEscape,
				message: fmt.Sprintf("invalid query parameter %s: its value %s is not valid percent-encoding: a %% must be followed by two hex digits (send a literal %% as %%25)", quote(name), quote(v))}
		}
		if reason := textProblem(value); reason != "" {
			return &inputProblem{location: "query", field: name, reason: reason,
				message: fmt.Sprintf("invalid query parameter %s: its value %s; the query string must be valid UTF-8 without NUL characters (%%00)", quote(name), describe(reason))}
		}
	}
	return nil
}

// quote shows s in a message: quoted, with NUL and invalid bytes escaped,
// and cut when long.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// contentType is h's Content-Type, looked up by its canonical name (no
// canonicalization on the check path).
func contentType(h http.Header) string {
	if v := h["Content-Type"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// jsonMedia reports whether a body of this Content-Type is read as JSON:
// application/json, any +json type, or none named.
func jsonMedia(ct string) bool {
	if ct == "" {
		return true
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return strings.EqualFold(ct, "application/json") || len(ct) > 5 && strings.EqualFold(ct[len(ct)-5:], "+json")
}

// heldBody is a request body read into memory and served from there.
// HeldBody is the JSON body WithInputCheck read whole and checked, as a
// handler inside it sees r (nil when it did not hold one). The bytes are
// the request's: they must not be kept past it.
func HeldBody(r *http.Request) []byte {
	if b, ok := r.Body.(*heldBody); ok {
		return b.buf
	}
	return nil
}

type heldBody struct {
	buf  []byte
	off  int
	orig io.ReadCloser
}

func (b *heldBody) Read(p []byte) (int, error) {
	if b.off >= len(b.buf) {
		return 0, io.EOF
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	return n, nil
}

func (b *heldBody) Close() error { return b.orig.Close() }

// heldBodies recycles the buffers of small bodies (the check path's).
var heldBodies = sync.Pool{New: func() any { return &heldBody{buf: make([]byte, 0, 1024)} }}

// maxPooledBody is the largest buffer kept for reuse.
const maxPooledBody = 64 << 10

func (b *heldBody) release() {
	if cap(b.buf) > maxPooledBody {
		return
	}
	b.buf, b.off, b.orig = b.buf[:0], 0, nil
	heldBodies.Put(b)
}

// holdBody reads r's body (at most maxBody bytes) and checks it. A body
// within the limit is then served from memory (held, to be released once
// the request is answered); a larger one, or one that failed to read, is
// served as it came (what was read, then the rest or the read error), so
// that the operation answers it as it always has.
func holdBody(r *http.Request, maxBody int64) (*heldBody, *inputProblem) {
	b := heldBodies.Get().(*heldBody)
	if r.ContentLength > 0 && r.ContentLength <= maxBody && int64(cap(b.buf)) < r.ContentLength {
		b.buf = make([]byte, 0, r.ContentLength)
	}
	orig := r.Body
	var err error
	for int64(len(b.buf)) <= maxBody {
		if len(b.buf) == cap(b.buf) {
			b.buf = append(b.buf, 0)[:len(b.buf)]
		}
		end := min(int64(cap(b.buf)), maxBody+1)
		var n int
		n, err = orig.Read(b.buf[len(b.buf):end])
		b.buf = b.buf[:len(b.buf)+n]
		if err != nil {
			break
		}
	}
	if err == io.EOF || errors.Is(err, io.EOF) {
		b.orig = orig
		r.Body = b
		if reason, at := jsonTextProblem(b.buf); reason != "" {
			return b, bodyProblem(b.buf, reason, at)
		}
		return b, nil
	}
	// Too large, or the read failed: no check, the operation decides.
	read := bytes.Clone(b.buf)
	b.orig = nil
	b.release()
	rest := io.Reader(orig)
	if err != nil {
		rest = errReader{err}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), rest), orig}
	return nil, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// jsonTextProblem finds a NUL character or invalid UTF-8 in a JSON text
// (jsontext.Problem).
func jsonTextProblem(b []byte) (string, int) { return jsontext.Problem(b) }

// bodyProblem describes a problem at offset at of a JSON body, naming the
// field that holds it when the body parses that far.
func bodyProblem(b []byte, reason string, at int) *inputProblem {
	field, msg := jsontext.Describe(b, reason, at)
	return &inputProblem{location: "body", field: field, reason: reason, message: msg}
}

// jsonFieldAt is the path of the value or key at offset at of b
// (jsontext.FieldAt).
func jsonFieldAt(b []byte, at int) string { return jsontext.FieldAt(b, at) }
