package httpapi_test

import (
	"context"
	"go/format"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadSpec(t *testing.T, raw string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestEveryOperationHasExamples walks the served spec: every parameter,
// JSON or file body and 2xx answer with content has an example, and every
// operation has code samples in curl, Go, JavaScript and Python. The
// examples are valid against their schemas (kin-openapi validates them).
func TestEveryOperationHasExamples(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	doc := loadSpec(t, s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).raw)
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("an example does not fit its schema: %v", err)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			where := method + " " + path + " (" + op.OperationID + ")"
			for _, p := range op.Parameters {
				if p.Value.Example == nil && len(p.Value.Examples) == 0 {
					t.Errorf("%s: parameter %s (%s) has no example", where, p.Value.Name, p.Value.In)
				}
			}
			if rb := op.RequestBody; rb != nil {
				for ct, mt := range rb.Value.Content {
					if mt.Example == nil && len(mt.Examples) == 0 {
						t.Errorf("%s: request body %s has no example", where, ct)
					}
				}
			}
			got2xx := false
			for code, res := range op.Responses.Map() {
				if !strings.HasPrefix(code, "2") {
					continue
				}
				got2xx = true
				for ct, mt := range res.Value.Content {
					if mt.Example == nil && len(mt.Examples) == 0 {
						t.Errorf("%s: answer %s %s has no example", where, code, ct)
					}
				}
			}
			if !got2xx {
				t.Errorf("%s: no 2xx answer", where)
			}
			samples, _ := op.Extensions["x-codeSamples"].([]any)
			langs := map[string]string{}
			for _, x := range samples {
				m, _ := x.(map[string]any)
				lang, _ := m["lang"].(string)
				src, _ := m["source"].(string)
				langs[lang] = src
			}
			for _, lang := range []string{"curl", "Go", "JavaScript", "Python"} {
				if strings.TrimSpace(langs[lang]) == "" {
					t.Errorf("%s: no %s code sample", where, lang)
				}
			}
			if formatted, err := format.Source([]byte(langs["Go"])); err != nil {
				t.Errorf("%s: the Go sample does not parse: %v\n%s", where, err, langs["Go"])
			} else if string(formatted) != langs["Go"] {
				t.Errorf("%s: the Go sample is not gofmt'd:\n%s", where, langs["Go"])
			}
			if !strings.Contains(langs["curl"], strings.Split(path, "{")[0]) {
				t.Errorf("%s: the curl sample does not call its path:\n%s", where, langs["curl"])
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d operations in the spec", n)
	}
}
