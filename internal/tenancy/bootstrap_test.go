package tenancy_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// recordingFounder notes when it runs and can fail inside the transaction.
type recordingFounder struct {
	foundErr error
	found    []string // organization keys, in the transaction
	inTx     bool     // the organization was visible in the transaction
}

func (f *recordingFounder) Found(ctx context.Context, tx tenancy.Store, b *tenancy.Bootstrap) error {
	f.found = append(f.found, b.Organization.Key)
	_, err := tx.GetOrganization(ctx, b.Organization.ID)
	f.inTx = err == nil
	return f.foundErr
}

func newService(t *testing.T) (*tenancy.Service, *store.Store) {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return tenancy.NewService(db.Store(), tenancy.WithClock(func() time.Time { return at })), db.Store()
}

func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st := newService(t)
	in := tenancy.NewOrganization{Name: "Ops Team", AdminEmail: "Admin@Example.com", AdminName: "Admin"}

	f := &recordingFounder{}
	res, err := svc.Bootstrap(ctx, in, f)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Organization.Key != "ops-team" || res.Organization.Settings.Tier != tenancy.TierEnterprise {
		t.Fatalf("first bootstrap: %+v (tier %q)", res, res.Organization.Settings.Tier)
	}
	if got := res.Bootstrap.Organization.CreatedAt; !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("created at %v, want the service's clock", got)
	}
	if len(res.Bootstrap.Environments) != 2 || res.Bootstrap.Admin.Email != "admin@example.com" {
		t.Errorf("bootstrap: %+v", res.Bootstrap)
	}
	if len(f.found) != 1 || !f.inTx {
		t.Errorf("founder: found %v (organization in the transaction: %v)", f.found, f.inTx)
	}
	tok, err := st.GetSetupToken(ctx, tenancy.TokenHash(res.SetupToken))
	if err != nil || tok.MemberID != res.Bootstrap.Admin.ID || tok.CreatedBy != "init" {
		t.Fatalf("setup token %+v, %v", tok, err)
	}

	again := &recordingFounder{}
	res2, err := svc.Bootstrap(ctx, tenancy.NewOrganization{Name: "Other", AdminEmail: "b@example.com"}, again)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Created || res2.Organization.ID != res.Organization.ID || res2.Bootstrap != nil || res2.SetupToken != "" {
		t.Fatalf("second bootstrap created or returned another organization: %+v", res2)
	}
	if len(again.found) != 0 {
		t.Errorf("second bootstrap ran the founder: %+v", again)
	}
}

func TestCreateOrganizationRollsBackWithItsFounder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st := newService(t)
	boom := errors.New("no key")
	f := &recordingFounder{foundErr: boom}
	if _, err := svc.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Acme", AdminEmail: "a@example.com"}, f); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if n, err := st.CountOrganizations(ctx); err != nil || n != 0 {
		t.Fatalf("organizations after a failed founder: %d, %v", n, err)
	}

	ok := &recordingFounder{}
	b, err := svc.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Acme", AdminEmail: "a@example.com"}, ok)
	if err != nil {
		t.Fatal(err)
	}
	if b.Organization.Settings.Tier != tenancy.DefaultOrgSettings().Tier {
		t.Errorf("tier %q, want the default", b.Organization.Settings.Tier)
	}
	if _, err := svc.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Acme", AdminEmail: "a@example.com"}, &recordingFounder{}); err == nil {
		t.Fatal("a second organization with the key acme was created")
	}
}
