package pdp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/jsonstream"
)

// writeSnapshot writes s as json.Marshal would, but element by element
// through a small buffer: marshaled whole, a snapshot of 1M assignments
// was a 64 MB buffer (and its growth steps) on top of the copy of the data
// it encodes, every time the PDP saved its copy.
func writeSnapshot(w io.Writer, s *snapshot) error {
	sw := jsonstream.New(w, 64<<10)
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
	sw.Raw(string(hb[:i+len(`"data":`)]))
	writeData(sw, &s.Data)
	sw.Raw("}")
	return sw.Flush()
}

var errNoData = errors.New("snapshot: no data field in its JSON")

// writeData writes d's fields in order, each list element by element,
// with their tags' names and omitempty as json.Marshal reads them.
func writeData(s *jsonstream.Writer, d *authz.Data) {
	v := reflect.ValueOf(d).Elem()
	t := v.Type()
	s.Raw("{")
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
			s.Raw(",")
		}
		first = false
		s.Value(name)
		s.Raw(":")
		if fv.Kind() != reflect.Slice || fv.IsNil() {
			s.Value(fv.Interface())
			continue
		}
		s.Raw("[")
		for j := range fv.Len() {
			if j > 0 {
				s.Raw(",")
			}
			s.Value(fv.Index(j).Addr().Interface())
		}
		s.Raw("]")
	}
	s.Raw("}")
}
