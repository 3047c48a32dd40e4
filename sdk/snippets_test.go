//go:build interop

package sdk_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// seed000Guzzle is PERSCOM's documented PHP request (seed 000), verbatim.
const seed000Guzzle = `use GuzzleHttp\Client;

// Create a client with a base URI
$client = new Client([
    'base_uri' => 'https://api.perscom.io/v1/',
    'timeout' => 2.0,
    'headers' => [
      'Accept' => 'application/json',
      'X-Perscom-Id' => $perscomId,
      'Authorization' => "Bearer ${apiKey}"
    ]
]);

// Send a request to https://api.perscom.io/v1/users
$response = $client->request('GET', 'users');
`

// TestSeed000PHPGuzzleRequest runs PERSCOM's Guzzle request unchanged but
// for the base URI, with Debian's php-cli and php-guzzlehttp-guzzle:
// perscomId is the organization's id, apiKey an environment key. (PHP 8.2
// deprecates the snippet's "${apiKey}" interpolation: a notice on stderr,
// the request is the same.)
func TestSeed000PHPGuzzleRequest(t *testing.T) {
	t.Parallel()
	php := testserver.Need(t, "php")
	const autoload = "/usr/share/php/GuzzleHttp/autoload.php" // Debian's php-guzzlehttp-guzzle
	if _, err := os.Stat(autoload); err != nil {
		missing(t, "Guzzle (Debian's php-guzzlehttp-guzzle; .ci/run installs it)", err)
	}
	s := testserver.Start(t)
	s.Call(t, s.EnvKey, "POST", "/v1/users", `{"key":"seed-user"}`, 201)
	script := "<?php\nrequire '" + autoload + "';\n" +
		"$perscomId = getenv('GATEHOUSE_ORGANIZATION_ID');\n$apiKey = getenv('GATEHOUSE_ENV_API_KEY');\n" +
		"// --- as PERSCOM documents it ---\n" +
		strings.Replace(seed000Guzzle, "https://api.perscom.io/v1/", s.URL+"/v1/", 1) +
		"// ---\necho $response->getStatusCode(), \"\\n\", $response->getBody();\n"
	file := filepath.Join(t.TempDir(), "seed000.php")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(php, "-d", "display_errors=stderr", file)
	cmd.Env = s.Env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v\n%s\n%s", err, out, stderr.String())
	}
	status, body, _ := strings.Cut(string(out), "\n")
	var users struct {
		Status string `json:"status"`
		Data   []struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &users); status != "200" || err != nil || users.Status != "success" || len(users.Data) != 1 || users.Data[0].Key != "seed-user" {
		t.Fatalf("the Guzzle request answered %s %s (%v); stderr: %s", status, body, err, stderr.String())
	}
}

// seed002Requests is our API reference's Python requests example (seed
// 002), verbatim.
const seed002Requests = `import requests

response = requests.get(
    'https://api.yourcompany.com/v1/resources',
    headers={'Authorization': 'Bearer YOUR_API_KEY'}
)

if response.status_code == 200:
    data = response.json()
    # Process data
elif response.status_code == 401:
    print("Invalid API key")
elif response.status_code == 429:
    retry_after = response.headers.get('Retry-After')
    print(f"Rate limited. Retry after {retry_after} seconds")
else:
    error = response.json()
    print(f"Error: {error['error']['message']}")
`

// TestSeed002PythonRequests runs the Python example unchanged but for the
// URL and the key, with Debian's python3-requests, down each of its
// branches: a good key (the data), a bad one (401), one over its rate
// limit (429 with Retry-After) and one without the scope (the error's
// message).
func TestSeed002PythonRequests(t *testing.T) {
	t.Parallel()
	py := pythonWithRequests(t)
	s := testserver.Start(t)
	s.Call(t, s.EnvKey, "POST", "/v1/resources", `{"name":"my-resource","type":"processor"}`, 201)
	limited := s.NewKey(t, "organization", "view:project")
	// A limit of 1 an hour, spent at once.
	raw := s.Call(t, s.OrgKey, "POST", "/v1/api-keys", `{"name":"one an hour","level":"environment","project":"default","environment":"development","scopes":["view:resource"],"rate_limit_per_hour":1}`, 201)
	var made struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &made)
	s.Call(t, made.Data.Token, "GET", "/v1/resources", "", 200)

	run := func(apiKey string) string {
		t.Helper()
		script := strings.NewReplacer("https://api.yourcompany.com", s.URL, "YOUR_API_KEY", apiKey).Replace(seed002Requests) +
			"\nif response.status_code == 200:\n    import json\n    print(json.dumps(data))\n"
		file := filepath.Join(t.TempDir(), "seed002.py")
		if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(testserver.RunIn(t, t.TempDir(), s.Env(), py, file))
	}
	var data struct {
		Status string `json:"status"`
		Data   []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	if out := run(s.EnvKey); json.Unmarshal([]byte(out), &data) != nil || data.Status != "success" || len(data.Data) != 1 || data.Data[0].Name != "my-resource" {
		t.Fatalf("a good key: %s", out)
	}
	if out := run("not-a-key"); out != "Invalid API key" {
		t.Fatalf("a bad key: %q", out)
	}
	if out := run(made.Data.Token); !strings.HasPrefix(out, "Rate limited. Retry after ") || strings.HasSuffix(out, "after None seconds") {
		t.Fatalf("a key over its limit: %q", out)
	}
	if out := run(limited); !strings.HasPrefix(out, "Error: ") || !strings.Contains(out, "scope") {
		t.Fatalf("a key without the scope: %q", out)
	}
}

// missing fails the test in CI (CI=true) and skips it elsewhere, as
// testserver.Need does for a program.
func missing(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	t.Skipf("%s not found (CI=true makes this a failure): %v", what, err)
}

// pythonWithRequests is Debian's Python 3, which python3-requests serves (the
// python3 first on PATH may be another, without it).
func pythonWithRequests(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = testserver.Need(t, "python3")
	}
	if out, err := exec.Command(py, "-c", "import requests").CombinedOutput(); err != nil {
		missing(t, py+"'s requests (Debian's python3-requests; .ci/run installs it)", fmt.Errorf("%v: %s", err, out))
	}
	return py
}
