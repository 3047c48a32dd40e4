package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestReadYourWritesAcrossNodes: every write of authorization data answers
// its change-feed revision (meta.revision and the Gatehouse-Revision
// header); a check on the other node that passes it as at_least sees the
// write at once, without waiting or retrying, round after round.
func TestReadYourWritesAcrossNodes(t *testing.T) {
	t.Parallel()
	urlA, urlB, res := twoNodes(t)
	q := "?project=default&environment=development"
	call(t, "POST", urlA+"/v1/resources"+q, res.Token, `{"key":"doc","actions":["read"]}`)
	call(t, "POST", urlA+"/v1/roles"+q, res.Token, `{"key":"reader","permissions":["doc:read"]}`)
	call(t, "POST", urlB+"/v1/allowed"+q, res.Token, `{"user":"u0","action":"read","resource":{"type":"doc"}}`) // B loads the environment
	last := int64(0)
	for i := 0; i < 20; i++ {
		call(t, "POST", urlA+"/v1/users"+q, res.Token, fmt.Sprintf(`{"key":"u%d"}`, i))
		req, _ := http.NewRequest("POST", urlA+"/v1/role-assignments"+q, strings.NewReader(fmt.Sprintf(`{"user":"u%d","role":"reader"}`, i)))
		req.Header.Set("Authorization", "Bearer "+res.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		header := resp.Header.Get("Gatehouse-Revision")
		var rev int64
		if _, err := fmt.Sscan(header, &rev); err != nil || resp.StatusCode != 201 || rev <= last {
			t.Fatalf("round %d: assign %d, Gatehouse-Revision %q after %d", i, resp.StatusCode, header, last)
		}
		last = rev
		st, out := call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(`{"user":"u%d","action":"read","resource":{"type":"doc"},"at_least":%d}`, i, rev))
		if st != 200 || out["data"].(map[string]any)["allow"] != true {
			t.Fatalf("round %d: node B with at_least %d: %d %v", i, rev, st, out)
		}
	}
	// meta.revision says the same as the header
	st, out := call(t, "POST", urlA+"/v1/users"+q, res.Token, `{"key":"meta-user"}`)
	if rev, _ := out["meta"].(map[string]any)["revision"].(float64); st != 201 || int64(rev) <= last {
		t.Fatalf("meta.revision after %d: %d %v", last, st, out)
	}
	// a revision this environment never reached: a bounded wait, then 409
	st, out = call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(`{"user":"u1","action":"read","resource":{"type":"doc"},"at_least":%d}`, last+1_000_000))
	if st != 409 || !strings.Contains(fmt.Sprint(out), "revision_not_reached") {
		t.Fatalf("a revision from the future: %d %v", st, out)
	}
	// reads answer no revision
	if st, out := call(t, "GET", urlA+"/v1/users"+q, res.Token, ""); st != 200 || out["meta"].(map[string]any)["revision"] != nil {
		t.Fatalf("a read with a revision: %d %v", st, out["meta"])
	}
}
