package jsonstream_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/jsonstream"
)

// The pieces make the document json.Marshal makes of the whole.
func TestWriterAsMarshal(t *testing.T) {
	type item struct {
		Key  string         `json:"key"`
		Tags []string       `json:"tags,omitempty"`
		Attr map[string]any `json:"attr"`
	}
	items := []item{{Key: "a<b>&c", Attr: map[string]any{"n": 1.5}}, {Key: "é\u2028", Tags: []string{"x"}}}
	var b strings.Builder
	w := jsonstream.New(&b, 16) // smaller than the document: several flushes
	w.Raw(`{"items":[`)
	for i := range items {
		if i > 0 {
			w.Raw(",")
		}
		w.Value(&items[i])
	}
	w.Raw(`]}`)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(map[string]any{"items": items})
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("got  %s\nwant %s", b.String(), want)
	}
}

type failing struct{ n int }

func (f *failing) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("disk full")
}

// The first error sticks: nothing more is written, Flush returns it.
func TestWriterFirstErrorSticks(t *testing.T) {
	f := &failing{}
	w := jsonstream.New(f, 16)
	w.Value(func() {}) // not encodable
	w.Raw(strings.Repeat("x", 100))
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "func") {
		t.Fatalf("Flush: %v, want the encoding error", err)
	}
	if f.n != 0 {
		t.Fatalf("%d writes after the error", f.n)
	}
	w2 := jsonstream.New(f, 16)
	w2.Raw(strings.Repeat("x", 100))
	w2.Raw("more")
	if err := w2.Flush(); err == nil || err.Error() != "disk full" || f.n != 1 {
		t.Fatalf("Flush: %v after %d writes, want disk full after 1", err, f.n)
	}
}
