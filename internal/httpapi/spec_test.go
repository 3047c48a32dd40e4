package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.yaml from the generated spec")

func TestSpecIsValidOpenAPI30(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	raw := s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).raw
	doc, err := openapi3.NewLoader().LoadFromData([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("spec.yaml is OpenAPI %s, want 3.0.x (seed 000)", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("spec.yaml does not validate: %v", err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			if _, ok := op.Extensions["x-required-scopes"]; !ok || !strings.Contains(op.Description, "Required scope") {
				t.Errorf("%s %s does not state its required scope", method, path)
			}
		}
	}
	var spec31 map[string]any
	if err := json.Unmarshal([]byte(s.must(200, req{method: "GET", path: "/v1/spec.json"}).raw), &spec31); err != nil || spec31["openapi"] != "3.1.0" {
		t.Fatalf("spec.json: openapi=%v err=%v", spec31["openapi"], err)
	}

	golden := filepath.Join("testdata", "openapi.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/httpapi -run TestSpecIsValid -update)", err)
	}
	if string(want) != raw {
		t.Fatalf("the API surface changed: review the diff and run go test ./internal/httpapi -run TestSpecIsValid -update")
	}
}
