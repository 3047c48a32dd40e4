package sdk_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The repository is MIT-licensed, and so is every SDK: each carries the
// same LICENSE (the Go SDK's module, the npm tarball, the Python wheel and
// sdist ship it) and each manifest says MIT.
func TestSDKLicencesAreTheRepositorys(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	read := func(rel string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	licence := read("LICENSE")
	if !bytes.HasPrefix(licence, []byte("MIT License\n")) {
		t.Fatalf("LICENSE is not the MIT licence: %.40q", licence)
	}
	for _, copy := range []string{"client/LICENSE", "sdk/js/LICENSE", "sdk/python/LICENSE"} {
		if !bytes.Equal(read(copy), licence) {
			t.Errorf("%s differs from LICENSE", copy)
		}
	}

	var pkg struct{ License string }
	if err := json.Unmarshal(read("sdk/js/package.json"), &pkg); err != nil || pkg.License != "MIT" {
		t.Errorf("sdk/js/package.json: license %q (%v), want MIT", pkg.License, err)
	}
	var lock struct {
		Packages map[string]struct{ License string } `json:"packages"`
	}
	if err := json.Unmarshal(read("sdk/js/package-lock.json"), &lock); err != nil || lock.Packages[""].License != "MIT" {
		t.Errorf("sdk/js/package-lock.json: license %q (%v), want MIT", lock.Packages[""].License, err)
	}
	pyproject := string(read("sdk/python/pyproject.toml"))
	if !strings.Contains(pyproject, "\nlicense = { text = \"MIT\" }\n") || !strings.Contains(pyproject, "License :: OSI Approved :: MIT License") {
		t.Errorf("sdk/python/pyproject.toml does not say MIT:\n%s", pyproject)
	}
	for _, rel := range []string{"sdk/js/package.json", "sdk/js/README.md", "sdk/python/pyproject.toml", "sdk/python/README.md", "client/go.mod", "README.md"} {
		if bytes.Contains(bytes.ToLower(read(rel)), []byte("apache")) {
			t.Errorf("%s mentions another licence (Apache)", rel)
		}
	}
}
