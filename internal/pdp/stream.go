package pdp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// writeSnapshot writes s as json.Marshal would, but element by element
// through a small buffer: marshaled whole, a snapshot of 1M assignments
// was a 64 MB buffer (and its growth steps) on top of the copy of the data
// it encodes, every time the PDP saved its copy.
func writeSnapshot(w io.Writer, s *snapshot) error {
	sw := &jsonStream{w: bufio.NewWriterSize(w, 64<<10)}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.enc.SetEscapeHTML(true) // as json.Marshal
	head := *s
	head.Data = authz.Data{}
	// The head's JSON up to its "data" field, which is last.
	hb, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	i := bytes.LastIndex(hb, []byte(`"data":`))
	if i < 0 {
		return errNoData
	}
	sw.raw(hb[:i+len(`"data":`)])
	sw.data(&s.Data)
	sw.raw([]byte("}"))
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

var errNoData = errors.New("snapshot: no data field in its JSON")

// jsonStream writes JSON in pieces; the first error sticks.
type jsonStream struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func (s *jsonStream) raw(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *jsonStream) value(v any) {
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

// data writes d's fields in order, each list element by element, with
// their tags' names and omitempty as json.Marshal reads them.
func (s *jsonStream) data(d *authz.Data) {
	v := reflect.ValueOf(d).Elem()
	t := v.Type()
	s.raw([]byte("{"))
	first := true
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if strings.Contains(","+opts+",", ",omitempty,") && fv.Len() == 0 {
			continue
		}
		if !first {
			s.raw([]byte(","))
		}
		first = false
		s.value(name)
		s.raw([]byte(":"))
		if fv.Kind() != reflect.Slice || fv.IsNil() {
			s.value(fv.Interface())
			continue
		}
		s.raw([]byte("["))
		for j := range fv.Len() {
			if j > 0 {
				s.raw([]byte(","))
			}
			s.value(fv.Index(j).Addr().Interface())
		}
		s.raw([]byte("]"))
	}
	s.raw([]byte("}"))
}
