// Package jsonstream writes a JSON document in pieces through a small
// buffer: literal text between values, each value encoded on its own as
// json.Marshal would. It is how large answers and files (a PDP's snapshot
// of a million assignments) are written without building them whole in
// memory. A leaf: standard library only (the PDP imports it).
package jsonstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// Writer writes JSON in pieces to an underlying writer. The first error
// sticks: later writes do nothing and Flush returns it.
type Writer struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

// New returns a Writer writing to w through a buffer of size bytes.
func New(w io.Writer, size int) *Writer {
	s := &Writer{w: bufio.NewWriterSize(w, size)}
	s.enc = json.NewEncoder(&s.buf) // escapes HTML as json.Marshal does
	return s
}

// Raw writes text as it is (punctuation, keys known to need no escaping).
func (s *Writer) Raw(text string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(text)
	}
}

// Value writes v's JSON, the bytes json.Marshal would give.
func (s *Writer) Value(v any) {
	if s.err != nil {
		return
	}
	s.buf.Reset()
	if s.err = s.enc.Encode(v); s.err != nil {
		return
	}
	b := s.buf.Bytes()
	_, s.err = s.w.Write(b[:len(b)-1]) // the encoder's newline cut
}

// Fail records err as the Writer's error unless it has one already.
func (s *Writer) Fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Flush writes what is buffered and returns the first error.
func (s *Writer) Flush() error {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}
