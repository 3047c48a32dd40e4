package apilog_test

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

func TestCleanText(t *testing.T) { // not parallel: AllocsPerRun
	tests := []struct{ in, want string }{
		{"", ""},
		{"curl/8.5", "curl/8.5"},
		{"Zoë 日本", "Zoë 日本"},
		{"a\x00b", "ab"},
		{"\x00\x00", ""},
		{"a\xffb", "a\uFFFDb"},
		{"a\xff\xfe\xfdb", "a\uFFFDb"}, // one run of bad bytes, one replacement
		{"cut \xe6\x97", "cut \uFFFD"},
		{"both\x00\xff", "both\uFFFD"},
		{`escaped \u0000 stays text`, `escaped \u0000 stays text`},
	}
	for _, tc := range tests {
		got := apilog.CleanText(tc.in)
		if got != tc.want {
			t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
			t.Errorf("CleanText(%q) = %q is not clean", tc.in, got)
		}
	}
	clean := strings.Repeat("a clean user agent ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = apilog.CleanText(clean) }); n != 0 {
		t.Errorf("clean text costs %v allocations, want 0", n)
	}
}

// TestSanitize: every text field of a call, and every header's name and
// value, comes out clean; a header whose cleaned name meets another keeps
// both values.
func TestSanitize(t *testing.T) {
	t.Parallel()
	c := apilog.Call{RequestHeaders: map[string]string{"X-A\x00": "2\xff", "X-A": "1", "Accept": "*/*", "X-\xffB": "b\x00"}}
	// Every string field gets bad text.
	v := reflect.ValueOf(&c).Elem()
	n := 0
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString(v.Type().Field(i).Name + "\x00\xff")
			n++
		}
	}
	if n < 16 {
		t.Fatalf("only %d string fields", n)
	}
	apilog.Sanitize(&c)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			if want := v.Type().Field(i).Name + "\uFFFD"; f.String() != want {
				t.Errorf("%s = %q, want %q", v.Type().Field(i).Name, f.String(), want)
			}
		}
	}
	want := map[string]string{"X-A": "1, 2\uFFFD", "Accept": "*/*", "X-\uFFFDB": "b"}
	if !reflect.DeepEqual(c.RequestHeaders, want) {
		t.Errorf("headers %q, want %q", c.RequestHeaders, want)
	}
}
