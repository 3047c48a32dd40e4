package store

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Assignments of both kinds sorted by the key of their user, role or
// tenant (v1's sort=user|role|tenant with kind=all, in an environment with
// roles on instances). Sorting the union of both tables took seconds at a
// million rows for any page; instead the keys are walked in order (the
// database orders them, in its own collation) and each key's assignments
// are read as the merged list filtered by that key reads them (both
// tables' (fk, created_at, id) indexes, merged by created_at and id), so a
// page reads about a page of rows and a key query.

// byKeySource is where the keys of a sort come from, and the probes that
// find a key's assignments in each table: each is "FROM ... WHERE ..." for
// a key row k (k.key; k.id where the key has one row), $1 the environment.
type byKeySource struct {
	keys          string // "FROM ... WHERE ..." of the keys, k.key
	tenantProbe   string
	instanceProbe string
	filter        func(f *facts.AssignmentFilter, key string)
}

var byKeySources = map[string]byKeySource{
	"user": {
		keys:          "FROM authz_users k WHERE k.env_id = $1",
		tenantProbe:   "FROM authz_role_assignments a WHERE a.user_id = k.id",
		instanceProbe: "FROM authz_instance_assignments a WHERE a.user_id = k.id",
		filter:        func(f *facts.AssignmentFilter, key string) { f.User = key },
	},
	"tenant": {
		keys:          "FROM authz_tenants k WHERE k.env_id = $1",
		tenantProbe:   "FROM authz_role_assignments a WHERE a.tenant_id = k.id",
		instanceProbe: "FROM authz_instances i JOIN authz_instance_assignments a ON a.instance_id = i.id WHERE i.tenant_id = k.id",
		filter:        func(f *facts.AssignmentFilter, key string) { f.Tenant = key },
	},
	// A role key names a tenant role, resource roles of several resource
	// types, or both: the list's role column is the key.
	"role": {
		keys:          "FROM (SELECT key FROM authz_roles WHERE env_id = $1 UNION SELECT key FROM authz_resource_roles WHERE env_id = $1) k WHERE TRUE",
		tenantProbe:   "FROM authz_roles r JOIN authz_role_assignments a ON a.role_id = r.id WHERE r.env_id = $1 AND r.key = k.key",
		instanceProbe: "FROM authz_resource_roles r JOIN authz_instance_assignments a ON a.role_id = r.id WHERE r.env_id = $1 AND r.key = k.key",
		filter:        func(f *facts.AssignmentFilter, key string) { f.Role = key },
	},
}

// byKeyWalks says whether listAssignmentsByKeyMerged reads f's list: both
// kinds (or instances only) sorted by a key, without filters (a filter
// narrows the union, whose sort is then of the matching rows only).
func byKeyWalks(f facts.AssignmentFilter, page gatehouse.PageRequest) bool {
	_, ok := byKeySources[page.Sort]
	return ok && f.User == "" && f.Role == "" && f.Tenant == "" && f.ResourceInstance == ""
}

// keyCount is a key of a sort and, when counted, how many of the listed
// assignments it holds.
type keyCount struct {
	key string
	n   int
}

// assignmentKeys returns up to limit keys of src in the list's order after
// from (from itself too when incl; all keys when !after) that hold listed
// assignments; with countUpTo > 0, every key with the number it holds in
// each table, each up to countUpTo (a key holding none has n 0).
func (s *Store) assignmentKeys(ctx context.Context, envID string, src byKeySource, instancesOnly bool, from string, after, incl, desc bool, countUpTo, limit int) ([]keyCount, error) {
	args := []any{envID}
	cond := ""
	if after {
		cmp := ">"
		if desc {
			cmp = "<"
		}
		if incl {
			cmp += "="
		}
		args = append(args, from)
		cond = fmt.Sprintf(" AND k.key %s $2", cmp)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var query string
	if countUpTo > 0 {
		count := func(probe string) string {
			return fmt.Sprintf("(SELECT COUNT(*) FROM (SELECT 1 %s LIMIT %d) c)", probe, countUpTo)
		}
		n := count(src.instanceProbe)
		if !instancesOnly {
			n = count(src.tenantProbe) + " + " + n
		}
		query = fmt.Sprintf("SELECT k.key, %s %s%s ORDER BY k.key%s LIMIT %d", n, src.keys, cond, dir, limit)
	} else {
		has := "EXISTS (SELECT 1 " + src.instanceProbe + ")"
		if !instancesOnly {
			has = "(EXISTS (SELECT 1 " + src.tenantProbe + ") OR " + has + ")"
		}
		query = fmt.Sprintf("SELECT k.key, 1 %s%s AND %s ORDER BY k.key%s LIMIT %d", src.keys, cond, has, dir, limit)
	}
	return queryAll(ctx, s.reader(), query, func(sc scanner) (keyCount, error) {
		var k keyCount
		return k, sc.Scan(&k.key, &k.n)
	}, args...)
}

// byKeyBinding binds a cursor of listAssignmentsByKeyMerged to its list.
func byKeyBinding(f facts.AssignmentFilter, sort string, desc bool) string {
	w := &where{}
	w.add("env = ?", f.EnvID)
	w.add("kind = ?", string(f.Kind))
	return cursorBinding("role assignments of both kinds by key", sort, desc, w)
}

// byKeyBatch is the most keys a page by number reads (with their counts)
// at a time while it skips whole keys.
const byKeyBatch = 500

// listAssignmentsByKeyMerged is a page of the assignments of both kinds
// (or on instances only) sorted by the key of page.Sort, then created_at
// and id (as the tenant assignments sorted by key are). A cursor holds the
// last row's key, created_at and id; a page by number skips whole keys by
// their counts, then rows within the key it starts in.
func (s *Store) listAssignmentsByKeyMerged(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	var out gatehouse.Page[facts.Assignment]
	if page.Cursor != "" && page.Page > 1 {
		return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
	}
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	src := byKeySources[page.Sort]
	instancesOnly := f.Kind == facts.AssignmentsOnInstances
	bind := byKeyBinding(f, page.Sort, page.Desc)
	want := page.PerPage + 1 // a row more tells whether a page follows

	// The first key and where in it the page starts: after a cursor's row
	// (sub), or skip rows into it.
	var first string
	var started bool // first is set
	sub := ""
	skip := 0
	switch {
	case page.Cursor == StartCursor:
		out.Total = -1
	case page.Cursor != "":
		pos, err := decodeCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		key, ok := pos.Key.(string)
		if !ok || pos.At == nil {
			return out, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
		}
		kf := f
		src.filter(&kf, key)
		first, started = key, true
		sub = encodeCursor(cursorPos{Bind: mergedBinding(kf, page.Desc), Key: *pos.At, ID: pos.ID})
		out.Total = -1
	default:
		if err := s.countBothKinds(ctx, f, page, &out); err != nil {
			return out, err
		}
		skip = max(page.Offset(), 0)
		if skip > 0 {
			// Skip whole keys by their counts, a batch of keys at a time
			// (a growing one: early pages read few keys). A key's count
			// past what is left to skip changes nothing, so each is
			// counted up to the skip: a key of many rows costs no more.
			from, after, batch := "", false, 32
			for {
				keys, err := s.assignmentKeys(ctx, f.EnvID, src, instancesOnly, from, after, false, page.Desc, skip+1, batch)
				if err != nil {
					return out, fmt.Errorf("list role assignments: %w", err)
				}
				for _, k := range keys {
					if k.n > skip {
						first, started = k.key, true
						break
					}
					skip -= k.n
				}
				if started || len(keys) < batch {
					break
				}
				from, after, batch = keys[len(keys)-1].key, true, min(2*batch, byKeyBatch)
			}
			if !started {
				out.Items = []facts.Assignment{}
				return out, nil // past the end
			}
		}
	}

	out.Items = []facts.Assignment{}
	var items []facts.Assignment
	var ats []int64
	from, after, incl := first, started, started
	for len(items) < want {
		keys, err := s.assignmentKeys(ctx, f.EnvID, src, instancesOnly, from, after, incl, page.Desc, 0, want-len(items))
		if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		for _, k := range keys {
			kf := f
			src.filter(&kf, k.key)
			kp := gatehouse.PageRequest{PerPage: want - len(items), Desc: page.Desc}
			kskip := 0
			if started && k.key == first {
				kp.Cursor, kskip = sub, skip
			}
			res, err := s.mergedAssignments(ctx, kf, kp, kskip, false)
			if err != nil {
				return out, err
			}
			for _, a := range res.Items {
				items = append(items, a)
				ats = append(ats, micros(a.CreatedAt))
			}
			if len(items) >= want {
				break
			}
		}
		if len(keys) == 0 || len(items) >= want {
			break
		}
		from, after, incl = keys[len(keys)-1].key, true, false
	}
	if len(items) > page.PerPage {
		last := page.PerPage - 1
		at := ats[last]
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: byKeyOf(items[last], page.Sort), At: &at, ID: items[last].ID})
		items = items[:page.PerPage]
	}
	out.Items = items
	return out, nil
}

// byKeyOf is an assignment's key in a sort of listAssignmentsByKeyMerged.
func byKeyOf(a facts.Assignment, sort string) string {
	switch sort {
	case "user":
		return a.User
	case "role":
		return a.Role
	}
	return a.Tenant
}

// countBothKinds counts the listed assignments of both kinds (or on
// instances only) of an unfiltered list, each table up to page.CountUpTo.
func (s *Store) countBothKinds(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest, out *gatehouse.Page[facts.Assignment]) error {
	tables := []string{"authz_instance_assignments a"}
	if f.Kind != facts.AssignmentsOnInstances {
		tables = append(tables, "authz_role_assignments a")
	}
	for _, t := range tables {
		w := &where{}
		w.add("a.env_id = ?", f.EnvID)
		var part gatehouse.Page[facts.Assignment]
		if err := countRows(ctx, s.reader(), t, w, page, &part); err != nil {
			return fmt.Errorf("count role assignments: %w", err)
		}
		out.Total += part.Total
		out.TotalCapped = out.TotalCapped || part.TotalCapped
	}
	if out.TotalCapped || page.CountUpTo > 0 && out.Total > page.CountUpTo {
		out.Total, out.TotalCapped = page.CountUpTo, true
	}
	return nil
}
