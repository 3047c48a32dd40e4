package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// ci: race
// A retried POST with the same Idempotency-Key and request
// gets the first answer and makes nothing twice; the same key with another
// request is a 409; keys are per API key (another key of the organization
// never gets the first answer); both engines.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			cfg := engineConfig(t, engine)
			s := newServerWith(t, cfg)
			k := s.envKey("view:user", "manage:user", "manage:api", "view:project")
			idem := func(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }
			body := map[string]any{"key": "ada", "email": "ada@acme.example"}

			first := s.must(201, req{method: "POST", path: "/v1/users", key: k, body: body, header: idem("create-ada-1")})
			again := s.must(201, req{method: "POST", path: "/v1/users", key: k, body: body, header: idem("create-ada-1")})
			if again.header.Get("Idempotent-Replayed") != "true" || again.data()["id"] != first.data()["id"] {
				t.Fatalf("a retry was not the first answer: %v %v", again.header, again.raw)
			}
			if first.header.Get("Idempotent-Replayed") != "" {
				t.Error("the first answer says it is a replay")
			}
			if n := len(s.must(200, req{method: "GET", path: "/v1/users", key: k}).list()); n != 1 {
				t.Fatalf("%d users after a retry", n)
			}
			// Another request under the same key.
			res := s.do(req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": "bob"}, header: idem("create-ada-1")})
			if res.status != 409 || !strings.Contains(res.raw, "reused_with_different_request") {
				t.Errorf("the key reused for another request: %d %s", res.status, res.raw)
			}
			// Without a key a second create is a conflict, as ever.
			s.must(409, req{method: "POST", path: "/v1/users", key: k, body: body})
			// A refusal a retry could pass is not kept.
			s.must(400, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": ""}, header: idem("bad-1")})
			// Another organization's request with the same key runs.
			b := s.otherOrg("Beta")
			bp := "?project=" + b.projID + "&environment=" + b.envID
			s.must(201, req{method: "POST", path: "/v1/users" + bp, key: b.key, body: body, header: idem("create-ada-1")})
			// Bad keys.
			for _, bad := range []string{strings.Repeat("x", 256), "has space", "tab\tkey"} {
				if res := s.do(req{method: "POST", path: "/v1/users", key: k, body: body, header: idem(bad)}); res.status != 400 {
					t.Errorf("Idempotency-Key %q: %d", bad, res.status)
				}
			}
			// A new API key's token comes back on a retry (the first answer
			// may have been lost), but is not readable in the database.
			kb := map[string]any{"name": "ci", "level": "environment", "project": "default", "environment": "development", "scopes": []string{"view:user"}}
			k1 := s.must(201, req{method: "POST", path: "/v1/api-keys", key: k, body: kb, header: idem("key-1")}).data()
			k2 := s.must(201, req{method: "POST", path: "/v1/api-keys", key: k, body: kb, header: idem("key-1")}).data()
			if k1["token"] != k2["token"] || k1["id"] != k2["id"] {
				t.Errorf("a retried key creation made another key: %v %v", k1["id"], k2["id"])
			}
			// The key is the API key's: another key of the organization
			// that sends the same Idempotency-Key and request never gets
			// the first answer (here an organization key's token). One that
			// may not make the request is refused by the gate; one that may
			// makes its own.
			admin := map[string]any{"name": "automation", "level": "organization", "scopes": []string{"manage:api", "manage:member", "view:audit"}}
			orig := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: admin, header: idem("deploy-1")}).data()
			low := s.envKey("check:access")
			if res := s.do(req{method: "POST", path: "/v1/api-keys", key: low, body: admin, header: idem("deploy-1")}); res.status != 403 ||
				res.header.Get("Idempotent-Replayed") != "" || strings.Contains(res.raw, orig["token"].(string)) {
				t.Fatalf("another key replaying the Idempotency-Key: %d %v %.200s", res.status, res.header, res.raw)
			}
			own := s.must(201, req{method: "POST", path: "/v1/api-keys", key: k, body: kb, header: idem("key-1-other")}).data()
			peer := s.envKey("manage:api", "view:user")
			mine := s.do(req{method: "POST", path: "/v1/api-keys", key: peer, body: kb, header: idem("key-1-other")})
			if mine.status != 201 || mine.header.Get("Idempotent-Replayed") != "" || mine.data()["id"] == own["id"] {
				t.Fatalf("another key with the same Idempotency-Key and request: %d %v %.200s", mine.status, mine.header, mine.raw)
			}
			var answers []string
			rows, err := s.app.DB.Writer().Query("SELECT answer FROM idempotency_keys")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var a string
				_ = rows.Scan(&a)
				answers = append(answers, a)
			}
			rows.Close()
			for _, a := range answers {
				if strings.Contains(a, k1["token"].(string)) || strings.Contains(a, "ada@acme.example") {
					t.Fatalf("a kept answer is readable in the database: %.80s", a)
				}
			}
			// Concurrent retries: one runs, the others replay or wait; one user.
			var wg sync.WaitGroup
			statuses := make([]int, 8)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hr, _ := http.NewRequest("POST", s.url+"/v1/users", strings.NewReader(`{"key":"cy"}`))
					hr.Header.Set("Authorization", "Bearer "+k)
					hr.Header.Set("Content-Type", "application/json")
					hr.Header.Set("Idempotency-Key", "create-cy")
					res, err := http.DefaultClient.Do(hr)
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			wg.Wait()
			created := 0
			for _, st := range statuses {
				if st != 201 && st != 409 {
					t.Errorf("concurrent retries: %v", statuses)
				}
				if st == 201 {
					created++
				}
			}
			if created == 0 {
				t.Errorf("no concurrent retry succeeded: %v", statuses)
			}
			if n := len(s.must(200, req{method: "GET", path: "/v1/users?key=cy", key: k}).list()); n != 1 {
				t.Errorf("%d users from concurrent retries", n)
			}
			// /v2 too.
			v2 := "/v2/facts/" + s.projID + "/" + s.devID + "/users"
			p1 := s.do(req{method: "POST", path: v2, key: k, body: map[string]any{"key": "dee"}, header: idem("v2-dee")})
			p2 := s.do(req{method: "POST", path: v2, key: k, body: map[string]any{"key": "dee"}, header: idem("v2-dee")})
			if p1.status != 200 && p1.status != 201 || p2.status != p1.status || p2.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("/v2 retry: %d %d %v", p1.status, p2.status, p2.header)
			}
		})
	}
}
