package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestStatusCommands: `gatehouse status` reads the status page with no
// key; the instance operator's key opens, updates and resolves an incident
// with `gatehouse status incidents …`; another organization's key is
// refused.
func TestStatusCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, nil, "init", "--output", "json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var first initOut
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	base := serve(t, nil, "--data-dir", dir, "--status-sample-interval", "100ms")
	public := map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_CONFIG": t.TempDir() + "/none.json"}
	operator := map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_API_KEY": first.APIKey, "GATEHOUSE_CONFIG": t.TempDir() + "/none.json"}

	testwait.Until(t, 30*time.Second, "`gatehouse status` showing the database operational", func() bool {
		out, _, err := runAll(t, public, "", "status")
		return err == nil && strings.Contains(out, "database") && strings.Contains(out, "operational") && strings.Contains(out, "no open incidents")
	})

	// Another organization (its owner key holds every scope) is no operator.
	body, _ := json.Marshal(map[string]any{"name": "Tenant", "admin_email": "boss@tenant.example"})
	r, _ := http.NewRequest("POST", base+"/v1/organizations", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+first.APIKey)
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Data struct {
			APIKey struct {
				Token string `json:"token"`
			} `json:"api_key"`
		} `json:"data"`
	}
	_ = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != 201 || created.Data.APIKey.Token == "" {
		t.Fatalf("second organization: %d", res.StatusCode)
	}
	tenant := map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_API_KEY": created.Data.APIKey.Token, "GATEHOUSE_CONFIG": t.TempDir() + "/none.json"}
	create := []string{"status", "incidents", "create", "--title", "Slow checks", "--body", "Looking into it.", "--impact", "major", "--component", "checks,api"}
	if _, _, err := runAll(t, tenant, "", create...); err == nil || !strings.Contains(err.Error(), "FORBIDDEN") || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("a tenant's key opened an incident: %v", err)
	}
	if _, _, err := runAll(t, public, "", create...); err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Fatalf("no key: %v", err)
	}

	out, errOut, err := runAll(t, operator, "", append(create, "-o", "json")...)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	var inc struct {
		ID         string   `json:"id"`
		Status     string   `json:"status"`
		Components []string `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &inc); err != nil || inc.Status != "investigating" || len(inc.Components) != 2 {
		t.Fatalf("created: %v %s", err, out)
	}
	if out, _, err := runAll(t, public, "", "status"); err != nil || !strings.Contains(out, "open incident "+inc.ID) {
		t.Fatalf("status with an open incident: %v\n%s", err, out)
	}
	if out, _, err := runAll(t, operator, "", "status", "incidents", "update", inc.ID, "--body", "Found it.", "--status", "identified"); err != nil ||
		!strings.Contains(out, "identified") || !strings.Contains(out, "Found it.") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	if _, _, err := runAll(t, tenant, "", "status", "incidents", "resolve", inc.ID); err == nil || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("a tenant resolved: %v", err)
	}
	if out, _, err := runAll(t, operator, "", "status", "incidents", "resolve", inc.ID, "--body", "Fixed."); err != nil || !strings.Contains(out, "resolved") {
		t.Fatalf("resolve: %v\n%s", err, out)
	}
	if _, _, err := runAll(t, operator, "", "status", "incidents", "resolve", inc.ID); err == nil || !strings.Contains(err.Error(), "CONFLICT") {
		t.Fatalf("resolve twice: %v", err)
	}
	out, _, err = runAll(t, public, "", "status", "incidents", "list", "--state", "resolved")
	if err != nil || !strings.Contains(out, inc.ID) || !strings.Contains(out, "Slow checks") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = runAll(t, public, "", "status", "incidents", "get", inc.ID)
	if err != nil || !strings.Contains(out, "Looking into it.") || !strings.Contains(out, "Fixed.") {
		t.Fatalf("get: %v\n%s", err, out)
	}
}
