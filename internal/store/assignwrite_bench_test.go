package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// BenchmarkWriteAssignments is how fast the store takes tenant
// assignments, with their list marks and key marks counted by the
// triggers as shipped ("marked") and without the roles' key marks by
// user of migration 00035 ("no-role-marks": its Down section run first),
// in one process for the ratio (A B B A): one by one (CreateAssignment, as the API
// writes one) and in batches of 1,000 (InsertAssignments in a
// transaction, as an import does), into an environment of 100,000
// assignments (GATEHOUSE_WRITE_ASSIGNMENTS).
//
//	go test ./internal/store -run XXX -bench WriteAssignments -benchtime 2000x
func BenchmarkWriteAssignments(b *testing.B) {
	n := benchSize(b, "GATEHOUSE_WRITE_ASSIGNMENTS", 100_000, 1000)
	onBenchEngines(b, func(b *testing.B, db *store.DB) {
		db.SetSecrets(storetest.Ring(b))
		ctx := context.Background()
		env, _ := loadBig(b, db, n)
		st := db.Store()
		users, roles := idsOf(b, db, "authz_users", env), idsOf(b, db, "authz_roles", env)
		// Tenants of their own, so that no (user, role, tenant) written
		// here is one the load wrote.
		var tenants []string
		var ts []*facts.Tenant
		at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		for i := range 20 {
			ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("w-%02d", i), Name: "W", CreatedAt: at, UpdatedAt: at})
			tenants = append(tenants, ts[i].ID)
		}
		if err := st.InsertTenants(ctx, ts); err != nil {
			b.Fatal(err)
		}
		seq := 0
		next := func() facts.Assignment {
			seq++
			return facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[seq%len(users)], RoleID: roles[(seq/len(users))%len(roles)],
				TenantID: tenants[(seq/(len(users)*len(roles)))%len(tenants)], CreatedAt: time.Now()}
		}
		// In the order A B B A, so that the table's growth over the run
		// weighs on both alike.
		for _, variant := range []string{"marked", "no-role-marks", "no-role-marks-2", "marked-2"} {
			switch variant {
			case "no-role-marks":
				runMigration(b, db, "00035_role_user_key_marks.sql", "Down")
			case "marked-2":
				runMigration(b, db, "00035_role_user_key_marks.sql", "Up")
			}
			b.Run(variant+"/single", func(b *testing.B) {
				benchWrites(b, 1, func() {
					a := next()
					if err := st.CreateAssignment(ctx, &a); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run(variant+"/batch", func(b *testing.B) {
				as := make([]facts.Assignment, 1000)
				benchWrites(b, len(as), func() {
					for i := range as {
						as[i] = next()
					}
					if err := st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	})
}
