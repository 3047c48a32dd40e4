//go:build interop

package sdk_test

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// The SDKs install the way the README says, from what their packaging
// builds, into a fresh place that knows nothing of this repository, and
// work there against a live server: the same check through each way in.

// The JavaScript program run by the installed package, as CommonJS and
// as an ES module: a resource, a role, a user with it, two checks.
const jsCheck = `
const gh = new Gatehouse({ apiKey: process.env.GATEHOUSE_API_KEY, baseUrl: process.env.GATEHOUSE_API_URL })
  .withEnvironment('default', 'development');
const run = async (suffix) => {
  const resource = 'report-' + suffix, user = 'ada-' + suffix, role = 'reader-' + suffix;
  await gh.resources.create({ key: resource, actions: ['read', 'delete'] });
  await gh.roles.create({ key: role, permissions: [resource + ':read'] });
  await gh.users.create({ key: user });
  await gh.roleAssignments.assign({ user, role });
  for (const action of ['read', 'delete']) {
    const { allow } = await gh.checks.allowed({ user, action, resource: { type: resource } });
    console.log(suffix, action, allow);
  }
};
`

func TestJavaScriptSDKInstallsFromItsTarball(t *testing.T) {
	t.Parallel()
	dir := jsReady(t)
	var pkg struct {
		Name, Version, License string
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(dir, "gatehouse-sdk-"+pkg.Version+".tgz")

	// The tarball holds the build, its licence and README, and nothing of
	// the sources, tests or tooling.
	files := tarNames(t, tgz)
	for _, want := range []string{"package/package.json", "package/LICENSE", "package/README.md", "package/dist/index.js",
		"package/dist/index.d.ts", "package/dist/cjs/index.js", "package/dist/cjs/package.json"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s lacks %s (it has %q)", filepath.Base(tgz), want, files)
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "package/src/") || strings.HasPrefix(f, "package/test/") || strings.HasPrefix(f, "package/node_modules/") {
			t.Errorf("%s ships %s", filepath.Base(tgz), f)
		}
	}

	// A fresh application installs it offline: the package needs nothing
	// from the registry.
	app := t.TempDir()
	if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"name":"app","version":"1.0.0","private":true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testserver.RunIn(t, app, os.Environ(), "npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tgz)
	installed, err := os.ReadFile(filepath.Join(app, "node_modules", "@gatehouse", "sdk", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Name, License string }
	if err := json.Unmarshal(installed, &got); err != nil || got.Name != "@gatehouse/sdk" || got.License != "MIT" {
		t.Fatalf("installed package.json: %s (%v)", installed, err)
	}
	entries, err := os.ReadDir(filepath.Join(app, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "@gatehouse" && !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("installing the SDK also installed %s: it has no runtime dependencies", e.Name())
		}
	}

	scripts := map[string]string{
		"check.cjs": "const { Gatehouse } = require('@gatehouse/sdk');\n" + jsCheck + "run('cjs').catch((e) => { console.error(e); process.exit(1); });\n",
		"check.mjs": "import { Gatehouse } from '@gatehouse/sdk';\n" + jsCheck + "await run('esm');\n",
	}
	s := testserver.Start(t)
	for name, src := range scripts {
		if err := os.WriteFile(filepath.Join(app, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		suffix := map[string]string{"check.cjs": "cjs", "check.mjs": "esm"}[name]
		out := strings.TrimSpace(testserver.RunIn(t, app, s.Env(), "node", name))
		if want := suffix + " read true\n" + suffix + " delete false"; out != want {
			t.Errorf("node %s printed:\n%s\nwant:\n%s", name, out, want)
		}
	}
}

// tarNames lists a gzipped tarball's files.
func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("npm pack made no %s: %v", filepath.Base(path), err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// debianPython is a python3 with Debian's packaging tools: build (python3-build),
// setuptools and wheel, and venv with pip (python3-venv). The first python3
// on PATH may be another (pyenv's), so Debian's own is tried after it.
func debianPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import build, setuptools, wheel, venv, ensurepip").Run() == nil {
			return py
		}
	}
	t.Fatalf("no python3 (of %q) has Debian's packaging tools: apt-get install python3-build python3-venv python3-setuptools python3-wheel", candidates)
	return ""
}

// The Python program run by the installed package: where it was imported
// from, its licence, and the same check as the JavaScript one.
const pyCheck = `import os, sys
from importlib import metadata
import gatehouse
from gatehouse import Client

print(os.path.realpath(gatehouse.__file__).startswith(os.path.realpath(sys.prefix) + os.sep), metadata.metadata("gatehouse")["License"])
gh = Client(api_key=os.environ["GATEHOUSE_API_KEY"]).with_environment("default", "development")
suffix = sys.argv[1]
resource, user, role = "report-" + suffix, "ada-" + suffix, "reader-" + suffix
gh.resources.create(key=resource, actions=["read", "delete"])
gh.roles.create(key=role, permissions=[resource + ":read"])
gh.users.create(key=user)
gh.role_assignments.assign(user, role)
for action in ("read", "delete"):
    print(suffix, action, gh.checks.allowed(user, action, resource)["allow"])
`

func TestPythonSDKInstallsFromItsWheelAndSdist(t *testing.T) {
	t.Parallel()
	py := debianPython(t)
	// Built from a copy, so the build leaves nothing in the repository.
	src := filepath.Join(t.TempDir(), "python")
	if err := os.CopyFS(src, os.DirFS(filepath.Join(here(), "python"))); err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == "__pycache__" || d.Name() == "build" || d.Name() == "dist" || strings.HasSuffix(d.Name(), ".egg-info")) {
			os.RemoveAll(p)
			return filepath.SkipDir
		}
		return err
	})
	dist := filepath.Join(t.TempDir(), "dist")
	// The sdist, then the wheel built from it; --no-isolation uses the
	// Debian packages' setuptools and wheel (nothing from PyPI).
	testserver.RunIn(t, src, os.Environ(), py, "-m", "build", "--no-isolation", "--outdir", dist, ".")
	wheel, sdist := filepath.Join(dist, "gatehouse-0.1.0-py3-none-any.whl"), filepath.Join(dist, "gatehouse-0.1.0.tar.gz")

	// What each holds: the package and the MIT licence.
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		t.Fatalf("no wheel: %v", err)
	}
	var wheelFiles []string
	metadataText := ""
	for _, f := range zr.File {
		wheelFiles = append(wheelFiles, f.Name)
		if f.Name == "gatehouse-0.1.0.dist-info/METADATA" {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			r.Close()
			metadataText = string(b)
		}
	}
	zr.Close()
	for _, want := range []string{"gatehouse/__init__.py", "gatehouse-0.1.0.dist-info/LICENSE"} {
		if !slices.Contains(wheelFiles, want) {
			t.Errorf("the wheel lacks %s (it has %q)", want, wheelFiles)
		}
	}
	if !strings.Contains(metadataText, "\nLicense: MIT\n") || !strings.Contains(metadataText, "License :: OSI Approved :: MIT License") {
		t.Errorf("the wheel's METADATA does not say MIT:\n%s", metadataText)
	}
	sdistFiles := tarNames(t, sdist)
	for _, want := range []string{"gatehouse-0.1.0/LICENSE", "gatehouse-0.1.0/pyproject.toml", "gatehouse-0.1.0/gatehouse/__init__.py"} {
		if !slices.Contains(sdistFiles, want) {
			t.Errorf("the sdist lacks %s (it has %q)", want, sdistFiles)
		}
	}

	s := testserver.Start(t)
	for _, tc := range []struct {
		name, artifact string
		venv, pip      []string
	}{
		// A wheel installs into a bare virtual environment.
		{"wheel", wheel, nil, nil},
		// An sdist is built by pip: with no index, its build backend
		// (setuptools, wheel) comes from Debian's packages.
		{"sdist", sdist, []string{"--system-site-packages"}, []string{"--no-build-isolation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			venv := filepath.Join(t.TempDir(), "venv")
			testserver.RunIn(t, t.TempDir(), os.Environ(), py, append(append([]string{"-m", "venv"}, tc.venv...), venv)...)
			vpy := filepath.Join(venv, "bin", "python")
			testserver.RunIn(t, t.TempDir(), os.Environ(), vpy, append(append([]string{"-m", "pip", "install", "--no-index",
				"--disable-pip-version-check", "--no-cache-dir"}, tc.pip...), tc.artifact)...)
			// Run from an empty folder: the import can only find the
			// installed package.
			out := strings.TrimSpace(testserver.RunIn(t, t.TempDir(), append(s.Env(), "PYTHONPATH="), vpy, "-I", "-c", pyCheck, tc.name))
			if want := "True MIT\n" + tc.name + " read True\n" + tc.name + " delete False"; out != want {
				t.Errorf("the installed %s printed:\n%s\nwant:\n%s", tc.name, out, want)
			}
		})
	}
}
