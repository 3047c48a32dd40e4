//go:build interop

package gatehouse_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// TestREADMEFlows runs the README's shell blocks marked `<!-- readme-flow
// -->`, in order, as one bash script against a fresh server: as written,
// but for the server's address (the README's http://127.0.0.1:8080), the
// organization key `serve` prints (the README's '<the key it printed>'),
// and the line that starts the server (the test started it). Every curl
// fails the script on an HTTP error (--fail-with-body), so an example whose
// key lacks a scope its next call needs stops it with the answer.
func TestREADMEFlows(t *testing.T) {
	t.Parallel()
	testserver.Need(t, "bash")
	testserver.Need(t, "curl")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- readme-flow[^>]*-->\n```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) != 6 {
		t.Fatalf("%d README blocks marked readme-flow, want the 6 flows", len(blocks))
	}
	s := testserver.Start(t)
	var script strings.Builder
	script.WriteString("set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n")
	for _, b := range blocks {
		for _, line := range strings.Split(b[1], "\n") {
			if strings.HasPrefix(line, "go run ./cmd/gatehouse serve") {
				continue // the test started it
			}
			script.WriteString(line + "\n")
		}
	}
	text := strings.NewReplacer("http://127.0.0.1:8080", s.URL, "'<the key it printed>'", "'"+s.OrgKey+"'").Replace(script.String())
	cmd := exec.Command("bash", "-c", text)
	cmd.Env = append(os.Environ(), "GATEHOUSE_KEY=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's flows failed: %v\n%s\n--- the script ---\n%s", err, testserver.Tail(string(out), 30), text)
	}
	// What the flows say they answer.
	for _, want := range []string{
		`"allow":true,"reason":"granted","via":"tenant_role","role":"editor","tenant":"acme"`,   // the first check
		`"allow":true,"reason":"granted","via":"instance_role","role":"editor","tenant":"acme"`, // the fine-grained check
		`"secret":"whsec_`, // the webhook's one-time secret
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the flows' output lacks %s:\n%s", want, testserver.Tail(string(out), 40))
		}
	}
}
