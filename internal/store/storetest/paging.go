package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// walk pages through a list by cursor, calling between before every page
// but the first, and returns the ids in the order seen. It fails on a
// repeated id.
func walk[T any](t *testing.T, what string, list func(cursor string) (gatehouse.Page[T], error), id func(*T) string, between func(page int)) []string {
	t.Helper()
	var seen []string
	dup := map[string]bool{}
	cursor := store.StartCursor
	for page := 0; ; page++ {
		if page > 0 && between != nil {
			between(page)
		}
		res, err := list(cursor)
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, page, err)
		}
		if res.Total != -1 {
			t.Fatalf("%s: page %d by cursor counted the list (%d)", what, page, res.Total)
		}
		for i := range res.Items {
			k := id(&res.Items[i])
			if dup[k] {
				t.Fatalf("%s: %s seen twice (page %d)", what, k, page)
			}
			dup[k] = true
			seen = append(seen, k)
		}
		if res.NextCursor == "" {
			return seen
		}
		if page > 1000 {
			t.Fatalf("%s: no end", what)
		}
		cursor = res.NextCursor
	}
}

// testCursorPaging: keyset paging walks a list completely, in order,
// without repeats or gaps while rows are inserted and deleted between
// pages; a malformed cursor, or one of another list, sort, filter or
// environment, is refused.
func testCursorPaging(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "paging")
	p := newProject(t, st, org, "p", now)
	envA, envB := newEnv(t, st, p, "a", false), newEnv(t, st, p, "b", false)
	env := envA.ID

	// 45 users; created_at repeats every 3 users so ties break on id.
	users := map[string]*facts.User{}
	mkUser := func(envID, key string, at time.Time) *facts.User {
		u := &facts.User{ID: tenancy.NewID(), EnvID: envID, Key: key, Email: key + "@example.com", Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(t, st.CreateUser(ctx, u))
		if envID == env {
			users[u.ID] = u
		}
		return u
	}
	for i := 0; i < 45; i++ {
		mkUser(env, fmt.Sprintf("u%02d", i), now.Add(time.Duration(i/3)*time.Second))
	}
	mkUser(envB.ID, "only-in-b", now)

	type sortCase struct {
		sort string
		desc bool
		less func(a, b *facts.User) bool
	}
	for _, sc := range []sortCase{
		{"created_at", false, func(a, b *facts.User) bool {
			return a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID
		}},
		{"key", true, func(a, b *facts.User) bool { return a.Key > b.Key }},
		{"email", false, func(a, b *facts.User) bool { return a.Email < b.Email }},
	} {
		t.Run("users by "+sc.sort, func(t *testing.T) {
			before := map[string]bool{}
			for id := range users {
				before[id] = true
			}
			deleted, ahead, behind := map[string]bool{}, map[string]bool{}, map[string]bool{}
			var last *facts.User
			n := 0
			list := func(cursor string) (gatehouse.Page[facts.User], error) {
				res, err := st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 7, Sort: sc.sort, Desc: sc.desc, Cursor: cursor})
				if len(res.Items) > 0 {
					last = &res.Items[len(res.Items)-1]
				}
				return res, err
			}
			seen := walk(t, "users", list, func(u *facts.User) string { return u.ID }, func(page int) {
				// Between pages: a user before the position (must not
				// show), one after it (must show), and a delete of one
				// not reached yet (must not show).
				n++
				var early, late *facts.User
				switch sc.sort {
				case "created_at":
					early = mkUser(env, fmt.Sprintf("early-%s-%d", sc.sort, n), now.Add(-time.Hour))
					late = mkUser(env, fmt.Sprintf("late-%s-%d", sc.sort, n), now.Add(time.Hour+time.Duration(n)*time.Second))
				case "key": // descending
					early = mkUser(env, fmt.Sprintf("zz-%s-%d", sc.sort, n), now)
					late = mkUser(env, fmt.Sprintf("0-%03d", 999-n), now) // lower than every key so far
				case "email":
					early = mkUser(env, fmt.Sprintf("early-%s-%d", sc.sort, n), now)
					early.Email = fmt.Sprintf("!%03d", n) // before every email: behind the position
					early.UpdatedAt = now
					must(t, st.UpdateUser(ctx, early))
					late = mkUser(env, fmt.Sprintf("zzzz-%03d", n), now) // higher than every email so far
				}
				behind[early.ID], ahead[late.ID] = true, true
				for id := range before {
					u := users[id]
					if !deleted[id] && sc.less(last, u) && !ahead[id] {
						must(t, st.DeleteUser(ctx, env, id))
						deleted[id] = true
						break
					}
				}
			})
			got := map[string]bool{}
			for i, id := range seen {
				got[id] = true
				if i > 0 && !sc.less(users[seen[i-1]], users[id]) {
					t.Fatalf("out of order: %s then %s", users[seen[i-1]].Key, users[id].Key)
				}
			}
			for id := range before {
				if !deleted[id] && !got[id] {
					t.Errorf("gap: %s not seen", users[id].Key)
				}
				if deleted[id] && got[id] {
					t.Errorf("%s seen after its delete", users[id].Key)
				}
			}
			for id := range ahead {
				if !got[id] {
					t.Errorf("%s, inserted ahead of the position, not seen", users[id].Key)
				}
			}
			for id := range behind {
				if got[id] {
					t.Errorf("%s, inserted behind the position, seen", users[id].Key)
				}
			}
			if len(deleted) == 0 {
				t.Fatal("nothing deleted during the walk")
			}
			for id := range deleted {
				delete(users, id)
			}
		})
	}

	// Role assignments, by created_at and by role (then created_at, id),
	// with assignments added between pages.
	var roles, tenants []string
	for i := 0; i < 3; i++ {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateRole(ctx, r))
		roles = append(roles, r.ID)
		tn := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t%d", i), Name: "T", Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateTenant(ctx, tn))
		tenants = append(tenants, tn.ID)
	}
	var userIDs []string
	for id := range users {
		userIDs = append(userIDs, id)
	}
	assigned := map[string]*facts.Assignment{}
	assign := func(u, r, tn string, at time.Time) *facts.Assignment {
		a := &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u, RoleID: r, TenantID: tn, CreatedAt: at}
		must(t, st.CreateAssignment(ctx, a))
		assigned[a.ID] = a
		return a
	}
	for i, u := range userIDs {
		for j := 0; j < 2; j++ {
			assign(u, roles[(i+j)%3], tenants[j], now.Add(time.Duration(i%5)*time.Second))
		}
	}
	for _, sort := range []string{"created_at", "role", "user", "tenant"} {
		t.Run("assignments by "+sort, func(t *testing.T) {
			tn := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "walk-" + sort, Name: "T", Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
			must(t, st.CreateTenant(ctx, tn))
			want := len(assigned)
			var added []string
			extra := 0
			seen := walk(t, "assignments", func(cursor string) (gatehouse.Page[facts.Assignment], error) {
				return st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, gatehouse.PageRequest{PerPage: 8, Sort: sort, Cursor: cursor})
			}, func(a *facts.Assignment) string { return a.ID }, func(page int) {
				// A new assignment of the last user, third tenant: after
				// the position in created_at order; in role order maybe.
				if page <= len(userIDs) {
					extra++
					added = append(added, assign(userIDs[page-1], roles[page%3], tn.ID, now.Add(time.Hour+time.Duration(page)*time.Second)).ID)
				}
			})
			got := map[string]bool{}
			for _, id := range seen {
				got[id] = true
			}
			n := 0
			for id := range assigned {
				if !contains(added, id) {
					n++
					if !got[id] {
						t.Fatalf("gap: assignment %s not seen", id)
					}
				}
			}
			if n != want {
				t.Fatalf("%d assignments before the walk, want %d", n, want)
			}
			if sort == "created_at" {
				for _, id := range added {
					if !got[id] {
						t.Fatalf("assignment %s added ahead of the position not seen", id)
					}
				}
			}
			// by-filter walk: only role0's, complete.
			var role0 int
			for _, a := range assigned {
				if a.RoleID == roles[0] {
					role0++
				}
			}
			only := walk(t, "role0 assignments", func(cursor string) (gatehouse.Page[facts.Assignment], error) {
				return st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, Role: "role0"}, gatehouse.PageRequest{PerPage: 5, Sort: sort, Desc: true, Cursor: cursor})
			}, func(a *facts.Assignment) string { return a.ID }, nil)
			if len(only) != role0 {
				t.Fatalf("role0: %d seen, want %d", len(only), role0)
			}
		})
	}

	// Resource instances and relationship tuples: a walk by cursor with an
	// instance and a tuple added ahead of the position between pages.
	folder := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "folder", Name: "Folder", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateResource(ctx, folder))
	var insts []string
	mkInst := func(key string, at time.Time) string {
		i := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: folder.ID, Key: key, TenantID: tenants[0], Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(t, st.CreateInstance(ctx, i))
		insts = append(insts, i.ID)
		return i.ID
	}
	for i := 0; i < 23; i++ {
		mkInst(fmt.Sprintf("f%02d", i), now.Add(time.Duration(i/4)*time.Second))
	}
	for i := 1; i < 23; i++ {
		must(t, st.CreateTuple(ctx, &facts.Tuple{ID: tenancy.NewID(), EnvID: env, SubjectID: insts[i-1], Relation: "parent", ObjectID: insts[i], CreatedAt: now.Add(time.Duration(i%3) * time.Second)}))
	}
	before := len(insts)
	seenInst := walk(t, "instances", func(cursor string) (gatehouse.Page[facts.Instance], error) {
		return st.ListInstances(ctx, facts.FineFilter{EnvID: env, Resource: "folder"}, gatehouse.PageRequest{PerPage: 6, Sort: "key", Cursor: cursor})
	}, func(i *facts.Instance) string { return i.ID }, func(page int) { mkInst(fmt.Sprintf("z%02d", page), now) })
	if len(seenInst) != len(insts) || len(insts) == before {
		t.Fatalf("instances by cursor: %d seen of %d (%d before the walk)", len(seenInst), len(insts), before)
	}
	tuples := 22
	seenTuples := walk(t, "tuples", func(cursor string) (gatehouse.Page[facts.Tuple], error) {
		return st.ListTuples(ctx, facts.TupleFilter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Sort: "created_at", Desc: true, Cursor: cursor})
	}, func(tp *facts.Tuple) string { return tp.ID }, func(page int) {
		// Older than every tuple: ahead of the position, newest first.
		must(t, st.CreateTuple(ctx, &facts.Tuple{ID: tenancy.NewID(), EnvID: env, SubjectID: insts[page], Relation: fmt.Sprintf("r%d", page), ObjectID: insts[0], CreatedAt: now.Add(-time.Duration(page) * time.Hour)}))
		tuples++
	})
	if len(seenTuples) != tuples {
		t.Fatalf("tuples by cursor: %d seen of %d", len(seenTuples), tuples)
	}

	// Page paging hands out a cursor too, and the two agree.
	p1, err := st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{Page: 1, PerPage: 5})
	must(t, err)
	if p1.Total != len(users) || p1.NextCursor == "" {
		t.Fatalf("page 1: total %d, cursor %q", p1.Total, p1.NextCursor)
	}
	p2, err := st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{Page: 2, PerPage: 5})
	must(t, err)
	c2, err := st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Cursor: p1.NextCursor})
	must(t, err)
	if fmt.Sprint(ids(p2.Items)) != fmt.Sprint(ids(c2.Items)) {
		t.Fatalf("page 2 %v, by cursor %v", ids(p2.Items), ids(c2.Items))
	}

	// Refused cursors.
	good := p1.NextCursor
	tampered := []byte(good)
	tampered[3] ^= 1
	bad := map[string]func() error{
		"garbage": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Cursor: "not a cursor"}))
		},
		"tampered": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Cursor: string(tampered)}))
		},
		"truncated": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Cursor: good[:len(good)-2]}))
		},
		"other sort": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Sort: "key", Cursor: good}))
		},
		"other order": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Desc: true, Cursor: good}))
		},
		"other filter": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env, Search: "u"}, gatehouse.PageRequest{PerPage: 5, Cursor: good}))
		},
		"other list": func() error {
			return errOf(st.ListTenants(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{PerPage: 5, Cursor: good}))
		},
		"other environment": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: envB.ID}, gatehouse.PageRequest{PerPage: 5, Cursor: good}))
		},
		"with a page": func() error {
			return errOf(st.ListUsers(ctx, facts.Filter{EnvID: env}, gatehouse.PageRequest{Page: 2, PerPage: 5, Cursor: good}))
		},
		"assignments of another environment": func() error {
			a, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, gatehouse.PageRequest{PerPage: 2, Sort: "role", Cursor: store.StartCursor})
			must(t, err)
			return errOf(st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: envB.ID}, gatehouse.PageRequest{PerPage: 2, Sort: "role", Cursor: a.NextCursor}))
		},
	}
	for name, fn := range bad {
		err := fn()
		if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			t.Errorf("%s cursor: %v, want INVALID_REQUEST", name, err)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func ids(us []facts.User) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].ID
	}
	return out
}
