package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// auditEntries lists GET /v1/audit?query (every page, by cursor).
func (s *server) auditEntries(key, query string) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	cursor := "start"
	for cursor != "" {
		res := s.must(200, req{method: "GET", path: "/v1/audit?per_page=100&cursor=" + cursor + "&" + query, key: key})
		for _, e := range res.list() {
			out = append(out, e.(map[string]any))
		}
		cursor, _ = res.meta()["next_cursor"].(string)
	}
	return out
}

// findAudit is the newest entry of action on object id.
func findAudit(entries []map[string]any, action, objectID string) map[string]any {
	for _, e := range entries {
		if e["action"] == action && (objectID == "" || e["object_id"] == objectID) {
			return e
		}
	}
	return nil
}

// TestAuditTrail: each kind of write leaves its entry, attributed to the
// key or member that made it, with the object before and after; a failed
// write leaves none; another organization's or environment's entries never
// show; secrets never reach the trail. On SQLite and PostgreSQL.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			cfg := engineConfig(t, engine)
			cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
			auditTrail(t, newServerWith(t, cfg))
		})
	}
}

func auditTrail(t *testing.T, s *server) {
	envKeyID, envKey := s.newKey("environment", []string{"view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource",
		"view:role", "manage:role", "view:role_assignment", "manage:role_assignment"}, map[string]any{"project": "default", "environment": "development"})
	_, reader := s.newKey("organization", allScopes(), nil)

	// Authorization data, by an environment key.
	user := s.must(201, req{method: "POST", path: "/v1/users", key: envKey, body: map[string]any{"key": "alice", "email": "alice@example.com", "first_name": "Alice"}}).data()
	s.must(200, req{method: "PATCH", path: "/v1/users/alice", key: envKey, body: map[string]any{"first_name": "Alicia", "attributes": map[string]any{"plan": "pro"}}})
	s.must(201, req{method: "POST", path: "/v1/tenants", key: envKey, body: map[string]any{"key": "acme", "name": "Acme"}})
	s.must(201, req{method: "POST", path: "/v1/resources", key: envKey, body: map[string]any{"key": "doc", "name": "Doc", "actions": []string{"read", "write"}}})
	role := s.must(201, req{method: "POST", path: "/v1/roles", key: envKey, body: map[string]any{"key": "reader", "name": "Reader", "permissions": []string{"doc:read"}}}).data()
	s.must(200, req{method: "PATCH", path: "/v1/roles/reader", key: envKey, body: map[string]any{"permissions": []string{"doc:read", "doc:write"}}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: envKey, body: map[string]any{"user": "alice", "role": "reader", "tenant": "acme"}})
	// A failed write (an unknown role): no entry.
	s.must(404, req{method: "POST", path: "/v1/role-assignments", key: envKey, body: map[string]any{"user": "alice", "role": "nobody", "tenant": "acme"}})
	s.must(409, req{method: "POST", path: "/v1/users", key: envKey, body: map[string]any{"key": "alice"}})

	// Keys and members, by the organization's root key.
	k := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: map[string]any{"name": "ci", "level": "organization", "scopes": []string{"view:project"}}}).data()
	token := k["token"].(string)
	s.must(200, req{method: "PATCH", path: "/v1/api-keys/" + k["id"].(string), key: s.key, body: map[string]any{"name": "ci-renamed"}})
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + k["id"].(string) + "/revoke", key: s.key})
	m := s.must(201, req{method: "POST", path: "/v1/members", key: s.key, body: map[string]any{"email": "bob@example.com", "name": "Bob", "role": "viewer"}}).data()
	member := m
	if mm, ok := m["member"].(map[string]any); ok {
		member = mm
	}
	s.must(200, req{method: "PATCH", path: "/v1/members/" + member["id"].(string), key: s.key, body: map[string]any{"name": "Robert"}})
	link := s.must(201, req{method: "POST", path: "/v1/members/" + member["id"].(string) + "/setup-link", key: s.key}).data()

	// Webhooks and settings.
	hook := s.must(201, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"user.created"}}}).data()
	hookSecret := hook["secret"].(string)
	s.must(200, req{method: "PATCH", path: "/v1/webhooks/" + hook["id"].(string), key: s.key, body: map[string]any{"description": "CRM sync"}})
	rotated := s.must(200, req{method: "POST", path: "/v1/webhooks/" + hook["id"].(string) + "/rotate-secret", key: s.key, body: map[string]any{"grace_period_seconds": 60}}).data()
	s.must(204, req{method: "DELETE", path: "/v1/webhooks/" + hook["id"].(string), key: s.key})
	s.must(200, req{method: "PATCH", path: "/v1/settings", key: s.key, body: map[string]any{"log_retention_days": 45}})
	s.must(200, req{method: "PATCH", path: "/v1/projects/default/environments/development/settings", key: s.key, body: map[string]any{"decision_log": "full"}})

	// Member roles.
	s.must(201, req{method: "POST", path: "/v1/member-roles", key: s.key, body: map[string]any{"key": "auditor", "name": "Auditor", "scopes": []string{"view:project"}}})
	s.must(200, req{method: "PATCH", path: "/v1/member-roles/auditor", key: s.key, body: map[string]any{"scopes": []string{"view:project", "view:audit"}}})
	s.must(204, req{method: "DELETE", path: "/v1/member-roles/auditor", key: s.key})

	entries := s.auditEntries(reader, "")
	raw, _ := json.Marshal(entries)
	t.Logf("%d entries", len(entries))

	// Every write is there, by its actor.
	for _, c := range []struct{ action, actor string }{
		{"user.created", envKeyID}, {"user.updated", envKeyID}, {"tenant.created", envKeyID}, {"resource.created", envKeyID},
		{"role.created", envKeyID}, {"role.updated", envKeyID}, {"role_assignment.created", envKeyID},
		{"api_key.created", ""}, {"api_key.updated", ""}, {"api_key.revoked", ""}, {"member.created", ""}, {"member.updated", ""},
		{"member.setup_link_created", ""}, {"webhook.created", ""}, {"webhook.updated", ""}, {"webhook.secret_rotated", ""},
		{"webhook.deleted", ""}, {"organization.updated", ""}, {"environment.updated", ""},
		{"member_role.created", ""}, {"member_role.updated", ""}, {"member_role.deleted", ""},
	} {
		e := findAudit(entries, c.action, "")
		if e == nil {
			t.Errorf("no %s entry in %s", c.action, raw)
			continue
		}
		if e["actor_type"] != "key" || (c.actor != "" && e["actor_id"] != c.actor) || e["client_ip"] != "127.0.0.1" || e["request_id"] == "" || e["request_id"] == nil {
			t.Errorf("%s: actor %v %v from %v (request %v), want key %s", c.action, e["actor_type"], e["actor_id"], e["client_ip"], e["request_id"], c.actor)
		}
		if e["organization_id"] != s.orgID {
			t.Errorf("%s: organization %v", c.action, e["organization_id"])
		}
	}

	// The user's update: before and after.
	up := findAudit(entries, "user.updated", user["id"].(string))
	if up == nil {
		t.Fatalf("no user.updated of %s", user["id"])
	}
	before, after := up["before"].(map[string]any), up["after"].(map[string]any)
	if before["first_name"] != "Alice" || after["first_name"] != "Alicia" || after["attributes"].(map[string]any)["plan"] != "pro" ||
		up["object_type"] != "user" || up["object_key"] != "alice" || up["environment_id"] != s.devID || up["project_id"] != s.projID {
		t.Fatalf("user.updated: %v", up)
	}
	if r := findAudit(entries, "role.updated", role["id"].(string)); r == nil || fmt.Sprint(r["before"].(map[string]any)["permissions"]) != "[doc:read]" ||
		fmt.Sprint(r["after"].(map[string]any)["permissions"]) != "[doc:read doc:write]" {
		t.Fatalf("role.updated: %v", r)
	}
	if r := findAudit(entries, "api_key.revoked", k["id"].(string)); r == nil || r["before"].(map[string]any)["status"] != "active" ||
		r["after"].(map[string]any)["status"] != "revoked" || r["object_key"] != "ci-renamed" {
		t.Fatalf("api_key.revoked: %v", r)
	}
	if c := findAudit(entries, "user.created", user["id"].(string)); c == nil || c["before"] != nil || c["after"].(map[string]any)["email"] != "alice@example.com" {
		t.Fatalf("user.created: %v", c)
	}

	if w := findAudit(entries, "webhook.updated", hook["id"].(string)); w == nil || w["before"].(map[string]any)["description"] != "" ||
		w["after"].(map[string]any)["description"] != "CRM sync" {
		t.Fatalf("webhook.updated: %v", w)
	}
	if o := findAudit(entries, "organization.updated", s.orgID); o == nil ||
		o["after"].(map[string]any)["settings"].(map[string]any)["log_retention_days"] != float64(45) ||
		o["before"].(map[string]any)["settings"].(map[string]any)["log_retention_days"] == float64(45) {
		t.Fatalf("organization.updated: %v", o)
	}
	if e := findAudit(entries, "environment.updated", s.devID); e == nil ||
		e["after"].(map[string]any)["settings"].(map[string]any)["decision_log"] != "full" ||
		e["before"].(map[string]any)["settings"].(map[string]any)["decision_log"] == "full" {
		t.Fatalf("environment.updated: %v", e)
	}

	if r := findAudit(entries, "member_role.updated", ""); r == nil || fmt.Sprint(r["before"].(map[string]any)["scopes"]) != "[view:project]" ||
		fmt.Sprint(r["after"].(map[string]any)["scopes"]) != "[view:project view:audit]" || r["object_key"] != "auditor" {
		t.Fatalf("member_role.updated: %v", r)
	}

	// The failed writes left nothing: one assignment, one user.created.
	var assigns, creates int
	for _, e := range entries {
		switch e["action"] {
		case "role_assignment.created":
			assigns++
		case "user.created":
			creates++
		}
	}
	if assigns != 1 || creates != 1 {
		t.Fatalf("%d role_assignment.created and %d user.created entries, want 1 each", assigns, creates)
	}

	// No secret anywhere: the key's token or its hash, the setup link.
	linkPath := link["path"].(string)
	for _, secret := range []string{token, token[len(token)-20:], linkPath, linkPath[len(linkPath)-20:], hookSecret, rotated["secret"].(string),
		`"hash"`, `"token"`, `"secret"`, `"previous_secret"`, `"password_hash"`} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("a secret (%q) reached the audit trail", secret)
		}
	}

	// Filters.
	if l := s.auditEntries(reader, "action=user.updated"); len(l) != 1 || l[0]["object_id"] != user["id"] {
		t.Fatalf("action filter: %v", l)
	}
	if l := s.auditEntries(reader, "action=user."); len(l) != 2 {
		t.Fatalf("action prefix filter: %d entries", len(l))
	}
	if l := s.auditEntries(reader, "object_id="+user["id"].(string)); len(l) != 2 {
		t.Fatalf("object filter: %d entries", len(l))
	}
	if l := s.auditEntries(reader, "actor="+envKeyID+"&object_type=role"); len(l) != 2 {
		t.Fatalf("actor and object type filter: %d entries", len(l))
	}
	s.must(400, req{method: "GET", path: "/v1/audit?action=DROP%20TABLE", key: reader})
	s.must(400, req{method: "GET", path: "/v1/audit?since=yesterday", key: reader})

	// One entry by id.
	got := s.must(200, req{method: "GET", path: "/v1/audit/" + up["id"].(string), key: reader}).data()
	if got["action"] != "user.updated" {
		t.Fatalf("get: %v", got)
	}

	// The scope: a key without view:audit is refused.
	_, noAudit := s.newKey("organization", []string{"view:log"}, nil)
	s.must(403, req{method: "GET", path: "/v1/audit", key: noAudit})

	// Isolation: another organization sees none of these, and not by id;
	// a key of the production environment sees none of development's.
	other := s.otherOrg("Other")
	if l := s.auditEntries(other.key, ""); findAudit(l, "user.updated", "") != nil {
		t.Fatalf("another organization sees this one's trail: %v", l)
	}
	s.must(404, req{method: "GET", path: "/v1/audit/" + up["id"].(string), key: other.key})
	_, prodReader := s.newKey("environment", []string{"view:audit"}, map[string]any{"project": "default", "environment": "production"})
	for _, e := range s.auditEntries(prodReader, "") {
		if e["environment_id"] != s.prodID { // its own creation is production's
			t.Fatalf("production's key sees an entry of elsewhere: %v", e)
		}
	}
	_, devReader := s.newKey("environment", []string{"view:audit", "view:user", "view:member"}, map[string]any{"project": "default", "environment": "development"})
	if l := s.auditEntries(devReader, ""); findAudit(l, "user.updated", "") == nil || findAudit(l, "member.created", "") != nil {
		t.Fatalf("development's key: %v", l)
	}

	// Paging by cursor: pages of 2 cover every entry once.
	seen := map[string]bool{}
	cursor := "start"
	for cursor != "" {
		res := s.must(200, req{method: "GET", path: "/v1/audit?per_page=2&cursor=" + cursor, key: reader})
		for _, e := range res.list() {
			id := e.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("entry %s on two pages", id)
			}
			seen[id] = true
		}
		cursor, _ = res.meta()["next_cursor"].(string)
	}
	if all := s.auditEntries(reader, ""); len(seen) != len(all) {
		t.Fatalf("paging by 2 saw %d entries of %d", len(seen), len(all))
	}

	// The export: JSON Lines, oldest first, the same entries.
	hres := s.do(req{method: "GET", path: "/v1/audit/export?action=user.", key: reader})
	if hres.status != http.StatusOK || !strings.HasPrefix(hres.header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("export: %d %s", hres.status, hres.raw)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(hres.raw)))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines = append(lines, e)
	}
	if len(lines) != 2 || lines[0]["action"] != "user.created" || lines[1]["action"] != "user.updated" {
		t.Fatalf("export: %s", hres.raw)
	}
}

// allScopes is every scope of the catalog: an Admin's key.
func allScopes() []string {
	var out []string
	for _, sc := range gatehouse.AllScopes() {
		out = append(out, string(sc))
	}
	return out
}

// TestAuditTrailNeedsTheObjectsScopes: view:audit shows only the entries
// of the kinds of object the caller's other scopes can read (member roles
// need view:permission, webhooks view:webhook, keys manage:api…), in the
// list, by id and in the export; a caller with every scope sees them all.
// On SQLite and PostgreSQL.
func TestAuditTrailNeedsTheObjectsScopes(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			cfg := engineConfig(t, engine)
			cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
			s := newServerWith(t, cfg)
			s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "alice"}})
			s.must(201, req{method: "POST", path: "/v1/member-roles", key: s.key, body: map[string]any{"key": "auditor", "name": "Auditor", "scopes": []string{"view:audit", "view:user"}}})
			s.must(201, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"user.created"}}})
			s.must(200, req{method: "PATCH", path: "/v1/settings", key: s.key, body: map[string]any{"log_retention_days": 45}})

			_, admin := s.newKey("organization", allScopes(), nil)
			all := s.auditEntries(admin, "")
			for _, a := range []string{"user.created", "member_role.created", "webhook.created", "api_key.created", "organization.updated"} {
				if findAudit(all, a, "") == nil {
					t.Fatalf("every scope: no %s entry", a)
				}
			}
			roleEntry := findAudit(all, "member_role.created", "")

			// view:audit and view:user, as the custom role above grants.
			_, narrow := s.newKey("organization", []string{"view:audit", "view:user"}, nil)
			seen := s.auditEntries(narrow, "")
			if findAudit(seen, "user.created", "") == nil {
				t.Fatalf("view:user: no user.created entry in %v", seen)
			}
			for _, e := range seen {
				if e["object_type"] != "user" {
					t.Fatalf("view:audit and view:user: a %s entry shows: %v", e["action"], e)
				}
			}
			if l := s.auditEntries(narrow, "object_type=member_role"); len(l) != 0 {
				t.Fatalf("object_type=member_role without view:permission: %v", l)
			}
			s.must(404, req{method: "GET", path: "/v1/audit/" + roleEntry["id"].(string), key: narrow})
			s.must(200, req{method: "GET", path: "/v1/audit/" + roleEntry["id"].(string), key: admin})
			exp := s.do(req{method: "GET", path: "/v1/audit/export", key: narrow})
			if exp.status != 200 || !strings.Contains(string(exp.raw), `"user.created"`) || strings.Contains(string(exp.raw), `"member_role.`) ||
				strings.Contains(string(exp.raw), `"webhook.`) || strings.Contains(string(exp.raw), `"api_key.`) || strings.Contains(string(exp.raw), `"organization.`) {
				t.Fatalf("export with view:audit and view:user: %d %s", exp.status, exp.raw)
			}

			// view:audit alone: nothing.
			_, bare := s.newKey("organization", []string{"view:audit"}, nil)
			if l := s.auditEntries(bare, ""); len(l) != 0 {
				t.Fatalf("view:audit alone sees %d entries: %v", len(l), l)
			}
			// view:permission and view:webhook open their kinds.
			_, wide := s.newKey("organization", []string{"view:audit", "view:permission", "view:webhook"}, nil)
			l := s.auditEntries(wide, "")
			if findAudit(l, "member_role.created", "") == nil || findAudit(l, "webhook.created", "") == nil || findAudit(l, "user.created", "") != nil {
				t.Fatalf("view:permission and view:webhook: %v", l)
			}
		})
	}
}

// TestAuditTrailStaysOutOfTheAPILog: the calls of /v1/audit are logged
// without their response bodies, so view:log does not read the trail
// through /v1/logs/{id}.
func TestAuditTrailStaysOutOfTheAPILog(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	user := s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "alice", "email": "alice@example.com"}}).data()
	auditorID, auditor := s.newKey("organization", []string{"view:audit", "view:user"}, nil)
	_, logReader := s.newKey("organization", []string{"view:log"}, nil)

	entry := findAudit(s.auditEntries(auditor, ""), "user.created", user["id"].(string))
	if entry == nil {
		t.Fatal("no user.created entry")
	}
	s.must(200, req{method: "GET", path: "/v1/audit/" + entry["id"].(string), key: auditor})
	if res := s.do(req{method: "GET", path: "/v1/audit/export", key: auditor}); res.status != 200 || !strings.Contains(string(res.raw), "alice@example.com") {
		t.Fatalf("export: %d %s", res.status, res.raw)
	}
	calls := s.waitLogs(logReader, "actor="+auditorID, 3)
	for _, c := range calls {
		m := c.(map[string]any)
		if !strings.HasPrefix(m["path"].(string), "/v1/audit") || m["status"] != float64(200) {
			t.Fatalf("call %v", m)
		}
		full := s.must(200, req{method: "GET", path: "/v1/logs/" + m["id"].(string), key: logReader}).data()
		raw, _ := json.Marshal(full)
		for _, leak := range []string{"alice@example.com", user["id"].(string), "user.created", entry["id"].(string) + `","timestamp`} {
			if strings.Contains(string(raw), leak) {
				t.Fatalf("the API log of %s holds the trail (%q): %s", m["path"], leak, raw)
			}
		}
		if full["response_body"] != nil && full["response_body"] != "" {
			t.Fatalf("the API log of %s keeps a response body: %s", m["path"], raw)
		}
	}
}

// TestAuditTrailOfAReplacingCopy: an environment copy with replace, which
// empties its target, leaves an environment.replaced entry naming the job,
// credited to the key that started it; every job leaves a job.created. On
// SQLite and PostgreSQL.
func TestAuditTrailOfAReplacingCopy(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, engineConfig(t, engine))
			keyID, key := s.newKey("organization", allScopes(), nil)
			prodQ := "?project=default&environment=production"
			s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: key, body: map[string]any{"key": "ada"}})
			s.must(201, req{method: "POST", path: "/v1/users" + prodQ, key: key, body: map[string]any{"key": "only-here"}})
			cp := s.must(201, req{method: "POST", path: "/v1/jobs" + prodQ, key: key, body: map[string]any{"type": "environment_copy", "replace": true,
				"source": map[string]any{"project": "default", "environment": "development"}}}).data()
			if j := s.waitJob(cp["id"].(string)); j["status"] != "succeeded" {
				t.Fatalf("copy: %v", j)
			}
			s.must(404, req{method: "GET", path: "/v1/users/only-here" + prodQ, key: key})
			entries := s.auditEntries(key, "")
			r := findAudit(entries, "environment.replaced", s.prodID)
			if r == nil {
				raw, _ := json.Marshal(entries)
				t.Fatalf("no environment.replaced entry of production: %s", raw)
			}
			after, _ := r["after"].(map[string]any)
			if r["actor_type"] != "key" || r["actor_id"] != keyID || r["environment_id"] != s.prodID || r["object_type"] != "environment" ||
				after["job_id"] != cp["id"] || after["source_environment_id"] != s.devID {
				t.Fatalf("environment.replaced: %v", r)
			}
			c := findAudit(entries, "job.created", cp["id"].(string))
			if c == nil || c["actor_id"] != keyID || c["environment_id"] != s.prodID || c["after"].(map[string]any)["type"] != "environment_copy" {
				t.Fatalf("job.created: %v", c)
			}
			// Jobs' entries need view:job, the environment's view:project and view:settings.
			_, narrow := s.newKey("organization", []string{"view:audit", "view:user"}, nil)
			for _, e := range s.auditEntries(narrow, "") {
				if e["object_type"] == "job" || e["object_type"] == "environment" {
					t.Fatalf("view:audit and view:user see %v", e)
				}
			}
		})
	}
}

// An import's writes, made by the job in the background, are credited to
// the key that started the job.
func TestAuditTrailOfAnImport(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	keyID, key := s.newKey("organization", []string{"manage:job", "view:job", "manage:user", "view:user", "view:audit"}, nil)
	res := s.importFile(key, devQ, "application/x-ndjson", `{"type":"user","key":"ada","first_name":"Ada"}`)
	if res.status != 201 {
		t.Fatalf("import: %d %s", res.status, res.raw)
	}
	job := res.data()["id"].(string)
	if j := s.waitJob(job); j["status"] != "succeeded" {
		t.Fatalf("job %v", j)
	}
	res = s.importFile(key, devQ, "application/x-ndjson", `{"type":"user","key":"ada","first_name":"Augusta"}`)
	s.waitJob(res.data()["id"].(string))
	entries := s.auditEntries(key, "action=user.")
	if len(entries) != 2 {
		t.Fatalf("%d user entries, want the creation and the update", len(entries))
	}
	for _, e := range entries {
		if e["actor_type"] != "key" || e["actor_id"] != keyID || !strings.HasPrefix(e["actor_name"].(string), "job ") {
			t.Errorf("%s credited to %v %v (%v), want the key %s through its job", e["action"], e["actor_type"], e["actor_id"], e["actor_name"], keyID)
		}
	}
	up := findAudit(entries, "user.updated", "")
	if up == nil || up["after"].(map[string]any)["first_name"] != "Augusta" {
		t.Fatalf("the import's update: %v", up)
	}
	// Its before is the user as the batch read it, not as it wrote it.
	if b, _ := up["before"].(map[string]any); b["first_name"] != "Ada" {
		t.Fatalf("before of an imported update: %v", up["before"])
	}
	// A re-import that changes nothing records nothing.
	res = s.importFile(key, devQ, "application/x-ndjson", `{"type":"user","key":"ada","first_name":"Augusta"}`+"\n"+`{"type":"user","key":"bea","first_name":"Bea"}`)
	s.waitJob(res.data()["id"].(string))
	if l := s.auditEntries(key, "action=user."); len(l) != 3 || findAudit(l, "user.created", "") == nil {
		t.Fatalf("a re-import of an unchanged row and a new one: %d user entries, want 3", len(l))
	}
}

// A purged organization's trail goes with it; another's stays.
func TestAuditTrailOfAPurgedOrganization(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.otherOrg("Beta")
	ctx := context.Background()
	count := func(orgID string) int {
		t.Helper()
		p, err := s.app.Store.ListAudit(ctx, audit.Filter{OrgID: orgID}, gatehouse.PageRequest{Page: 1, PerPage: 1, Sort: "timestamp", CountUpTo: gatehouse.TotalCap})
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	s.must(204, req{method: "DELETE", path: "/v1/organizations/" + b.id, key: b.key})
	if count(b.id) == 0 || count(s.orgID) == 0 {
		t.Fatalf("before the purge: beta %d entries, the first organization %d", count(b.id), count(s.orgID))
	}
	if _, err := s.app.PurgeDeleted(ctx, time.Now().Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(b.id); n != 0 {
		t.Errorf("the purged organization keeps %d audit entries", n)
	}
	if count(s.orgID) == 0 {
		t.Error("the purge took another organization's trail")
	}
}
