//go:build interop

// The Postman collection a user imports from the spec, run with newman
// against a live server: the examples must make working requests.

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// newmanExcluded are the operations the run leaves out, and why.
var newmanExcluded = map[string]string{
	"delete-organization":  "deletes the organization in use: every later call would answer ORGANIZATION_DELETED",
	"restore-organization": "only meaningful after delete-organization, which is excluded",
	"pdp-changes":          "an event stream that never ends by itself",
}

// newmanCaptures are the server-made ids later requests need: the
// operation whose answer holds one, the collection variable it goes to
// (named after the path parameter that takes it) and where it is in the
// answer. A Postman user does the same with a test script, or by hand.
var newmanCaptures = map[string][2]string{
	"create-api-key":  {"key", "data.id"},
	"create-member":   {"member", "data.id"},
	"create-webhook":  {"webhook", "data.id"},
	"test-webhook":    {"delivery", "data.id"},
	"create-incident": {"incident", "data.id"},
	"start-job":       {"job", "data.id"},
	"list-job-tasks":  {"task", "data[0].id"},
	"list-logs":       {"log", "data[0].id"},
	"list-decisions":  {"decision", "data[0].id"},
	"list-audit":      {"entry", "data[0].id"},
	"create-set-rule": {"set_rule", "data.id"},
	"get-project":     {"deleted_project", "data.id"},
	"get-environment": {"deleted_environment", "data.id"},
}

// newmanRestores are the path parameters of the restores: the id of what
// was deleted, kept when it was read.
var newmanRestores = map[string][2]string{
	"restore-project":     {"project", "deleted_project"},
	"restore-environment": {"environment", "deleted_environment"},
}

// newmanPhase orders the requests: creates, then reads, then updates and
// other actions, then deletes (each delete followed by the restore that
// undoes it). Within creates the tags follow newmanTagOrder, so that what
// a create names exists; deletes go in the reverse order.
func newmanPhase(id, method string) int {
	switch id {
	case "update-environment-settings": // the decision log on before the checks, so that they are recorded
		return 0
	case "test-webhook", "post-incident-update", "member-setup-link", "import-job", "start-job":
		return 0
	case "replay-webhook-delivery", "rotate-api-key", "rotate-webhook-secret", "recover-webhook-deliveries", "cancel-job", "retry-task", "resolve-incident":
		return 2
	case "revoke-api-key":
		return 3
	}
	switch {
	case strings.HasPrefix(id, "restore-"):
		return 3
	case strings.HasPrefix(id, "create-") || id == "assign-role":
		return 0
	case method == http.MethodGet || id == "check" || id == "check-bulk" || strings.HasPrefix(id, "allowed-") || id == "user-permissions" || id == "pdp-upload-decisions":
		return 1
	case method == http.MethodDelete:
		return 3
	}
	return 2
}

var newmanTagOrder = []string{"System", "Status", "Organizations", "Projects", "Settings", "Members", "API Keys", "Webhooks",
	"Users", "Tenants", "Resources", "Relations", "Resource Roles", "Roles", "Resource Instances", "Role Assignments",
	"Relationship Tuples", "Condition Sets", "Set Rules", "Checks", "Jobs", "Tasks", "API Log", "Audit Trail", "Decision Log", "PDP"}

type newmanItem struct {
	id, tag, method, path string
	phase, rank, seq      int
	raw                   map[string]any
}

func TestNewmanRunsTheCollection(t *testing.T) {
	conv := specTool(t, "openapi2postmanv2")
	newman := specTool(t, "newman")

	// Webhook deliveries go to a receiver on this machine, never out.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
	s := newServerWith(t, cfg)
	// The PDP operations need an environment key; every other request
	// uses the organization key.
	_, envToken := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development"})

	dir := t.TempDir()
	specPath, collPath := filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "collection.json")
	specRaw := s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).raw
	if err := os.WriteFile(specPath, []byte(specRaw), 0o644); err != nil {
		t.Fatal(err)
	}
	// Example-based parameters; optional parameters present but disabled,
	// as a Postman user gets them.
	out, err := exec.Command(conv, "-s", specPath, "-o", collPath, "-O",
		"parametersResolution=Example,enableOptionalParameters=false,folderStrategy=Tags").CombinedOutput()
	if err != nil {
		t.Fatalf("openapi2postmanv2: %v\n%s", err, out)
	}
	var coll map[string]any
	data, err := os.ReadFile(collPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &coll); err != nil {
		t.Fatal(err)
	}
	ops := operationsOf(t, specRaw)

	var items []*newmanItem
	var walk func(list []any)
	walk = func(list []any) {
		for _, x := range list {
			it := x.(map[string]any)
			if sub, ok := it["item"].([]any); ok {
				walk(sub)
				continue
			}
			r := it["request"].(map[string]any)
			method := r["method"].(string)
			u := r["url"].(map[string]any)
			segs := []string{}
			for _, p := range u["path"].([]any) {
				seg := p.(string)
				if strings.HasPrefix(seg, ":") {
					seg = "{" + seg[1:] + "}"
				}
				segs = append(segs, seg)
			}
			path := "/" + strings.Join(segs, "/")
			op, ok := ops[method+" "+path]
			if !ok {
				t.Fatalf("collection request %s %s is no operation of the spec", method, path)
			}
			items = append(items, &newmanItem{id: op[0], tag: op[1], method: method, path: path, raw: it, seq: len(items)})
		}
	}
	walk(coll["item"].([]any))
	if len(items) != len(ops) {
		t.Fatalf("the collection has %d requests, the spec %d operations", len(items), len(ops))
	}

	tagRank := map[string]int{}
	for i, tag := range newmanTagOrder {
		tagRank[tag] = i
	}
	var run []*newmanItem
	deleteRank := map[string]int{}
	for _, it := range items {
		if _, skip := newmanExcluded[it.id]; skip {
			continue
		}
		r, ok := tagRank[it.tag]
		if !ok {
			t.Fatalf("tag %q of %s is not in newmanTagOrder", it.tag, it.id)
		}
		it.phase, it.rank = newmanPhase(it.id, it.method), (r*1000+it.seq)*10
		if it.phase == 3 {
			it.rank = -it.rank // deletes in the reverse order
			if strings.HasPrefix(it.id, "delete-") {
				deleteRank[strings.TrimPrefix(it.id, "delete-")] = it.rank
			}
		}
		prepare(it, envToken, receiver.URL)
		run = append(run, it)
	}
	for _, it := range run {
		if what, ok := strings.CutPrefix(it.id, "restore-"); ok {
			it.rank = deleteRank[what] + 5 // right after its delete
		}
		if it.id == "delete-set-rule-by-id" {
			it.rank = deleteRank["set-rule"] - 1 // before the other: both delete the one rule
		}
	}
	// What no single example can make: create-set-rule needs a resource
	// set beside the user set create-condition-set makes, and the
	// relationship tuples link instances beside the one
	// create-resource-instance makes. The test adds those requests (not
	// counted, but required to succeed) right after the create they copy.
	setups := []struct{ after, name, body string }{
		{"create-condition-set", "resource set internal_documents", `{"key":"internal_documents","name":"Internal documents","type":"resourceset","resource":"document","conditions":{"resource.classification":{"equals":"internal"}}}`},
		{"create-resource-instance", "instance document:handbook", `{"resource":"document","key":"handbook","tenant":"acme"}`},
		{"create-resource-instance", "instance document:onboarding", `{"resource":"document","key":"onboarding","tenant":"acme"}`},
		{"create-resource-instance", "instance document:policies", `{"resource":"document","key":"policies","tenant":"acme"}`},
	}
	isSetup := map[*newmanItem]bool{}
	for i, su := range setups {
		for _, it := range run[:len(run):len(run)] {
			if it.id != su.after {
				continue
			}
			c := cloneItem(t, it)
			c.id, c.rank = "setup", it.rank+1+i
			c.raw["name"] = "setup: " + su.name
			c.raw["request"].(map[string]any)["body"].(map[string]any)["raw"] = su.body
			delete(c.raw, "event")
			run = append(run, c)
			isSetup[c] = true
		}
	}
	sort.SliceStable(run, func(i, j int) bool {
		if run[i].phase != run[j].phase {
			return run[i].phase < run[j].phase
		}
		return run[i].rank < run[j].rank
	})
	list := make([]any, len(run))
	for i, it := range run {
		list[i] = it.raw
	}
	coll["item"] = list
	coll["variable"] = []any{
		map[string]any{"key": "baseUrl", "value": s.url},
		map[string]any{"key": "bearerToken", "value": s.key},
		map[string]any{"key": "organization", "value": s.orgID},
	}
	data, err = json.Marshal(coll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(collPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	report := filepath.Join(dir, "report.json")
	cmd := exec.Command(newman, "run", collPath, "--reporters", "json", "--reporter-json-export", report,
		"--timeout-request", "30000", "--disable-unicode")
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "SCARF_ANALYTICS=false", "NO_UPDATE_NOTIFIER=1")
	out, err = cmd.CombinedOutput()
	if _, statErr := os.Stat(report); statErr != nil {
		t.Fatalf("newman wrote no report: %v\n%s", err, out)
	}
	var rep struct {
		Run struct {
			Executions []struct {
				Item     struct{ Name string }   `json:"item"`
				Request  struct{ Method string } `json:"request"`
				Response *struct {
					Code   int `json:"code"`
					Stream struct {
						Data []int `json:"data"`
					} `json:"stream"`
				} `json:"response"`
				RequestError *struct{ Message string } `json:"requestError"`
			} `json:"executions"`
		} `json:"run"`
	}
	repData, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(repData, &rep); err != nil {
		t.Fatalf("newman report: %v", err)
	}
	byName := map[string]*newmanItem{}
	for _, it := range run {
		byName[it.raw["name"].(string)] = it
	}
	total, ok2xx, n5xx := 0, 0, 0
	var failed []string
	for _, e := range rep.Run.Executions {
		it := byName[e.Item.Name]
		code := 0
		if e.Response != nil {
			code = e.Response.Code
		}
		if isSetup[it] {
			if code/100 != 2 {
				t.Errorf("setup request %q: status %d", e.Item.Name, code)
			}
			continue
		}
		total++
		switch {
		case code/100 == 2:
			ok2xx++
		case code/100 == 5:
			n5xx++
			fallthrough
		default:
			body := ""
			if e.Response != nil {
				b := make([]byte, len(e.Response.Stream.Data))
				for i, c := range e.Response.Stream.Data {
					b[i] = byte(c)
				}
				body = string(b)
				if len(body) > 300 {
					body = body[:300]
				}
			}
			failed = append(failed, fmt.Sprintf("%d %s %s (%s): %s", code, it.method, it.path, it.id, body))
		}
	}
	t.Logf("newman: %d of %d requests 2xx (%.1f%%), %d 5xx; excluded %d operations: %v", ok2xx, total, 100*float64(ok2xx)/float64(max(total, 1)), n5xx, len(newmanExcluded), keys(newmanExcluded))
	for _, f := range failed {
		t.Logf("not 2xx: %s", f)
	}
	if total != len(run)-len(setups) {
		t.Errorf("newman ran %d requests, want %d", total, len(run)-len(setups))
	}
	if n5xx > 0 || ok2xx*10 < total*9 {
		t.Fatalf("want at least 90%% 2xx and no 5xx: %d of %d 2xx, %d 5xx", ok2xx, total, n5xx)
	}
}

// prepare makes an item runnable: the environment of authorization data
// named (the run uses an organization key, for which it is required),
// server-made ids from earlier answers, the local webhook receiver, the
// environment key for the PDP.
func prepare(it *newmanItem, envToken, receiverURL string) {
	r := it.raw["request"].(map[string]any)
	u := r["url"].(map[string]any)
	if q, ok := u["query"].([]any); ok {
		for _, x := range q {
			p := x.(map[string]any)
			switch {
			case p["key"] == "project" || p["key"] == "environment":
				p["disabled"] = false
			case p["key"] == "cascade" && it.method == http.MethodDelete:
				p["disabled"] = false // delete what refers to it too, as the example says
			case p["key"] == "tenant" && it.id == "unassign-role":
				p["disabled"] = false // the assignment's tenant (the default tenant when left out)
			}
		}
	}
	if vars, ok := u["variable"].([]any); ok {
		for _, x := range vars {
			v := x.(map[string]any)
			name := v["key"].(string)
			if name == "organization" || (name == "key" && strings.HasPrefix(it.path, "/v1/api-keys/")) {
				v["value"] = "{{" + name + "}}"
			}
			if r, ok := newmanRestores[it.id]; ok && r[0] == name {
				v["value"] = "{{" + r[1] + "}}"
			}
			for _, c := range newmanCaptures {
				if c[0] == name && name != "key" {
					v["value"] = "{{" + name + "}}"
				}
			}
		}
	}
	if b, ok := r["body"].(map[string]any); ok {
		if raw, ok := b["raw"].(string); ok {
			b["raw"] = strings.ReplaceAll(raw, "https://hooks.example.com/gatehouse", receiverURL+"/hook")
		}
	}
	if strings.HasPrefix(it.path, "/v1/pdp/") {
		r["auth"] = map[string]any{"type": "bearer", "bearer": []any{map[string]any{"key": "token", "value": envToken, "type": "string"}}}
	}
	if c, ok := newmanCaptures[it.id]; ok {
		script := fmt.Sprintf(`try { const body = pm.response.json(); const v = body.%s; if (v) { pm.collectionVariables.set(%q, v); } } catch (e) {}`, c[1], c[0])
		it.raw["event"] = []any{map[string]any{"listen": "test", "script": map[string]any{"type": "text/javascript", "exec": []any{script}}}}
	}
}

func cloneItem(t *testing.T, it *newmanItem) *newmanItem {
	t.Helper()
	data, err := json.Marshal(it.raw)
	if err != nil {
		t.Fatal(err)
	}
	c := *it
	c.raw = map[string]any{}
	if err := json.Unmarshal(data, &c.raw); err != nil {
		t.Fatal(err)
	}
	delete(c.raw, "id")
	return &c
}

// operationsOf maps "METHOD /path" to the operation's id and tag.
func operationsOf(t *testing.T, specYAML string) map[string][2]string {
	t.Helper()
	doc := loadSpec(t, specYAML)
	out := map[string][2]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = [2]string{op.OperationID, op.Tags[0]}
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
