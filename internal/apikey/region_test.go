package apikey_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// regionService is a key service of region (none: "") on a database of its
// own, with an organization; it returns the service, a way to close its
// database and the organization's root principal.
func regionService(t *testing.T, region string) (*apikey.Service, func(), *auth.Principal) {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetSecrets(storetest.Ring(t))
	st := db.Store()
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{"us": "https://us.example.com", "eu": "https://eu.example.com"}
	svc, err := apikey.NewService(ctx, st, &switchable{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		apikey.Options{Region: region, RegionURL: func(r string) string { return urls[r] }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, func() { db.Close() }, &auth.Principal{KeyID: "root", Level: auth.LevelOrganization, OrgID: o.ID,
		Scopes: gatehouse.MustScopeSet(gatehouse.AllScopes()...)}
}

// TestRegionClaim: a key carries its cluster's region; another region's
// cluster refuses it with WRONG_REGION naming the key's region URL, before
// reading anything (its database is closed here); at home it verifies.
func TestRegionClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	us, _, usRoot := regionService(t, "us")
	eu, closeEU, _ := regionService(t, "eu")
	plain, _, plainRoot := regionService(t, "")
	spec := apikey.Spec{Name: "k", Level: auth.LevelOrganization, Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}}
	_, usToken, err := us.Issue(ctx, usRoot, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r := claimsOf(t, usToken)["region"]; r != "us" {
		t.Fatalf("region claim %v, want us", r)
	}
	_, plainToken, err := plain.Issue(ctx, plainRoot, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claimsOf(t, plainToken)["region"]; ok {
		t.Fatal("a cluster without a region put one in its key")
	}
	if _, err := us.Verify(ctx, usToken); err != nil {
		t.Fatalf("at home: %v", err)
	}
	if _, err := plain.Verify(ctx, plainToken); err != nil {
		t.Fatalf("no regions: %v", err)
	}
	closeEU() // whatever eu answers, it reads nothing
	_, err = eu.Verify(ctx, usToken)
	ge := new(gatehouse.Error)
	if gatehouse.ErrorCode(err) != gatehouse.CodeWrongRegion || !strings.Contains(err.Error(), "https://us.example.com") {
		t.Fatalf("a us key at eu: %v", err)
	}
	if !errors.As(err, &ge) || ge.Details["api_url"] != "https://us.example.com" || ge.Details["region"] != "us" {
		t.Fatalf("details %v", ge.Details)
	}
	// a region claim that is no region's name (as --region takes them) is
	// no region: the full verification refuses the forged token
	parts := strings.Split(usToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"region":"us"`, `"region":"-us"`, 1))) + "." + parts[2]
	if _, err := eu.Verify(ctx, forged); gatehouse.ErrorCode(err) == gatehouse.CodeWrongRegion {
		t.Fatalf("a forged region -us: %v", err)
	}
	// a cluster without regions refuses nothing for its region: the us key
	// fails there only because its signature is not this cluster's
	if _, err := plain.Verify(ctx, usToken); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
		t.Fatalf("a us key at a cluster without regions: %v", err)
	}
}
