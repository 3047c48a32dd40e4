// Command benchdata fills the development environment of the default
// project of a data directory made by `gatehouse init` with the
// benchmark's dataset M (authztest.Medium, seed 1, as bench/cmd/httpbench
// generates it) times -scale, straight through the store's bulk inserts.
// The import through the API (what httpbench measures) took 23 minutes for
// the 1M assignments of scale 10; this takes about a minute:
//
//	go run ./cmd/gatehouse init --data-dir /tmp/gh1m
//	go run ./tools/benchdata -data-dir /tmp/gh1m -scale 10
//	go run ./cmd/gatehouse serve --data-dir /tmp/gh1m --admin-addr 127.0.0.1:9091
//
// The rows bypass the change feed and the audit trail: a server started
// on the directory reads its engine from the tables. The environment must
// be empty.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

func main() {
	dir := flag.String("data-dir", "", "a data directory made by gatehouse init (required)")
	scale := flag.Int("scale", 1, "dataset M times this: 100,000 assignments each")
	flag.Parse()
	if err := run(context.Background(), *dir, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, scale int) error {
	if dir == "" {
		return errors.New("-data-dir is required (a folder made by gatehouse init)")
	}
	if scale < 1 {
		return fmt.Errorf("-scale %d: want a whole number >= 1", scale)
	}
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Store()
	org, err := st.FirstOrganization(ctx)
	if err != nil {
		return fmt.Errorf("no organization in %s (run gatehouse init first): %w", dir, err)
	}
	p, err := st.GetProject(ctx, org.ID, "default")
	if err != nil {
		return err
	}
	env, err := st.GetEnvironment(ctx, org.ID, p.ID, "development")
	if err != nil {
		return err
	}
	if n, err := st.CountRows(ctx, env.ID, facts.KindUser); err != nil || n != 0 {
		return fmt.Errorf("the development environment must be empty: %d users (%v)", n, err)
	}

	shape := authztest.Medium
	shape.Users *= scale
	shape.Tenants *= scale
	shape.Assignments *= scale
	start := time.Now()
	d := authztest.Generate(shape, 1).Data
	now := time.Now().UTC()
	for _, r := range d.Resources {
		res := &facts.Resource{ID: tenancy.NewID(), EnvID: env.ID, Key: r.Key, Name: r.Key, Actions: r.Actions, Status: facts.ResourceActive, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateResource(ctx, res); err != nil {
			return err
		}
	}
	roleIDs := map[string]string{}
	for _, r := range d.Roles {
		role := &facts.Role{ID: tenancy.NewID(), EnvID: env.ID, Key: r.Key, Name: r.Key, Permissions: r.Permissions, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateRole(ctx, role); err != nil {
			return err
		}
		roleIDs[r.Key] = role.ID
	}
	tenantIDs := map[string]string{}
	var ts []*facts.Tenant
	for _, x := range d.Tenants {
		ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env.ID, Key: x.Key, Name: x.Name, CreatedAt: now, UpdatedAt: now})
		tenantIDs[x.Key] = ts[len(ts)-1].ID
	}
	if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertTenants(ctx, ts) }); err != nil {
		return err
	}
	const batch = 20_000
	userIDs := make(map[string]string, len(d.Users))
	for from := 0; from < len(d.Users); from += batch {
		var us []*facts.User
		for _, u := range d.Users[from:min(from+batch, len(d.Users))] {
			us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: env.ID, Key: u.Key, Email: u.Email, CreatedAt: now, UpdatedAt: now})
			userIDs[u.Key] = us[len(us)-1].ID
		}
		if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertUsers(ctx, us) }); err != nil {
			return err
		}
	}
	for from := 0; from < len(d.Assignments); from += batch {
		as := make([]facts.Assignment, 0, batch)
		for _, a := range d.Assignments[from:min(from+batch, len(d.Assignments))] {
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env.ID, UserID: userIDs[a.User], RoleID: roleIDs[a.Role], TenantID: tenantIDs[a.Tenant], CreatedAt: now})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			in, err := tx.InsertAssignments(ctx, as)
			if err == nil && len(in) != len(as) {
				err = fmt.Errorf("%d of %d assignments stored", len(in), len(as))
			}
			return err
		}); err != nil {
			return err
		}
	}
	got, err := st.CountRows(ctx, env.ID, facts.KindRoleAssignment)
	if err != nil || got != len(d.Assignments) {
		return fmt.Errorf("%d assignments stored, want %d (%v)", got, len(d.Assignments), err)
	}
	fmt.Printf("dataset M×%d: %d resource types, %d roles, %d tenants, %d users, %d assignments written to %s in %v\n",
		scale, len(d.Resources), len(d.Roles), len(d.Tenants), len(d.Users), len(d.Assignments), dir, time.Since(start).Round(time.Millisecond))
	return nil
}
