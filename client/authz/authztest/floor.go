package authztest

import (
	"math/bits"
	"slices"
	"sort"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Floor answers checks with the least work that can be correct for this
// model: users and tenants interned to ints, a role mask per (user, tenant)
// pair, and per resource type and action the mask of roles granting it. It
// keeps no reasons, takes no lock and supports no changes: it exists only to
// measure what plain map lookups cost, next to the real engines.
type Floor struct {
	users, tenants map[string]uint32
	perms          map[string]map[string]uint64 // resource → action → roles
	pairs          map[uint64]uint64
	roles          []string // role bit → key
}

// NewFloor builds a Floor from ds (at most 64 roles).
func NewFloor(ds *Dataset) *Floor {
	f := &Floor{users: map[string]uint32{}, tenants: map[string]uint32{}, perms: map[string]map[string]uint64{}, pairs: map[uint64]uint64{}}
	for i, u := range ds.Data.Users {
		f.users[u.Key] = uint32(i)
	}
	for i, t := range ds.Data.Tenants {
		f.tenants[t.Key] = uint32(i)
	}
	roleBit := map[string]uint64{}
	for i, r := range ds.Data.Roles {
		roleBit[r.Key] = 1 << uint(i)
		f.roles = append(f.roles, r.Key)
		for p := range ds.Grants[r.Key] {
			res, act := split(p)
			if f.perms[res] == nil {
				f.perms[res] = map[string]uint64{}
			}
			f.perms[res][act] |= roleBit[r.Key]
		}
	}
	for _, a := range ds.Data.Assignments {
		f.pairs[uint64(f.users[a.User])<<32|uint64(f.tenants[a.Tenant])] |= roleBit[a.Role]
	}
	return f
}

// Check answers one query.
func (f *Floor) Check(user, action, resource, tenant string) bool {
	_, ok := f.Grant(user, action, resource, tenant)
	return ok
}

// Grant answers one query with a role granting it (the first in the data
// set's order), for an answer that names one.
func (f *Floor) Grant(user, action, resource, tenant string) (role string, ok bool) {
	u, ok := f.users[user]
	if !ok {
		return "", false
	}
	t, ok := f.tenants[tenant]
	if !ok {
		return "", false
	}
	m := f.pairs[uint64(u)<<32|uint64(t)] & f.perms[resource][action]
	if m == 0 {
		return "", false
	}
	return f.roles[bits.TrailingZeros64(m)], true
}

func split(p string) (string, string) {
	for i := 0; i < len(p); i++ {
		if p[i] == ':' {
			return p[:i], p[i+1:]
		}
	}
	return p, ""
}

// FloorPermissions answers Permissions queries the plain way, with the
// same economies as the engine so that the comparison is fair: a map per
// user of tenant → role mask, role bits numbered in key order (so roles
// come out sorted as their bits are read), each role's permissions as a
// bitset over the sorted permission names, and per answer one tenant list
// (presized, or a copy of the caller's kept on the stack when small), the
// answer and one backing array for its strings, counted first. Like Floor
// it keeps no lock and supports no changes.
type FloorPermissions struct {
	held      map[string]map[string]uint64 // user → tenant → roles
	roleKeys  []string                     // role bit → key, sorted
	permKeys  []string                     // "resource:action", sorted
	rolePerms [][]uint64                   // role bit → bits of permKeys
}

// NewFloorPermissions builds a FloorPermissions from ds (at most 64 roles,
// no role extends another).
func NewFloorPermissions(ds *Dataset) *FloorPermissions {
	f := &FloorPermissions{held: map[string]map[string]uint64{}}
	declared := map[string]bool{}
	for _, r := range ds.Data.Resources {
		for _, a := range r.Actions {
			if !declared[r.Key+":"+a] {
				declared[r.Key+":"+a] = true
				f.permKeys = append(f.permKeys, r.Key+":"+a)
			}
		}
	}
	sort.Strings(f.permKeys)
	rank := map[string]int{}
	for i, p := range f.permKeys {
		rank[p] = i
	}
	for _, r := range ds.Data.Roles {
		f.roleKeys = append(f.roleKeys, r.Key)
	}
	sort.Strings(f.roleKeys)
	roleBit := map[string]int{}
	for i, k := range f.roleKeys {
		roleBit[k] = i
		ws := make([]uint64, (len(f.permKeys)+63)/64)
		for p := range ds.Grants[k] {
			if at, ok := rank[p]; ok {
				ws[at/64] |= 1 << (at % 64)
			}
		}
		f.rolePerms = append(f.rolePerms, ws)
	}
	for _, a := range ds.Data.Assignments {
		if f.held[a.User] == nil {
			f.held[a.User] = map[string]uint64{}
		}
		f.held[a.User][a.Tenant] |= 1 << roleBit[a.Role]
	}
	return f
}

// Permissions answers like authz.Engine.Permissions: what user may do in
// each of tenants (every tenant where the user holds a role when tenants
// is empty), tenants sorted, roles and permissions sorted. It leaves the
// caller's tenants as they were.
func (f *FloorPermissions) Permissions(user string, tenants []string) []authz.TenantPermissions {
	ts := f.held[user]
	if ts == nil {
		return nil
	}
	var tbuf [16]string
	if len(tenants) == 0 {
		if len(ts) <= len(tbuf) {
			tenants = tbuf[:0]
		} else {
			tenants = make([]string, 0, len(ts))
		}
		for k := range ts {
			tenants = append(tenants, k)
		}
	} else if len(tenants) <= len(tbuf) {
		tenants = append(tbuf[:0], tenants...)
	} else {
		tenants = slices.Clone(tenants)
	}
	slices.Sort(tenants)
	var sbuf [8]uint64
	words := (len(f.permKeys) + 63) / 64
	seen := sbuf[:0]
	if words <= len(sbuf) {
		seen = sbuf[:words]
	} else {
		seen = make([]uint64, words)
	}
	nt, ns := 0, 0
	for _, tk := range tenants {
		m, ok := ts[tk]
		if !ok {
			continue
		}
		nt++
		ns += bits.OnesCount64(m) + f.union(m, seen)
	}
	if nt == 0 {
		return nil
	}
	out := make([]authz.TenantPermissions, 0, nt)
	strs := make([]string, 0, ns)
	for _, tk := range tenants {
		m, ok := ts[tk]
		if !ok {
			continue
		}
		tp := authz.TenantPermissions{Tenant: tk}
		from := len(strs)
		for r := m; r != 0; r &= r - 1 {
			strs = append(strs, f.roleKeys[bits.TrailingZeros64(r)])
		}
		tp.Roles = strs[from:len(strs):len(strs)]
		from = len(strs)
		f.union(m, seen)
		for i, w := range seen {
			for ; w != 0; w &= w - 1 {
				strs = append(strs, f.permKeys[64*i+bits.TrailingZeros64(w)])
			}
		}
		if len(strs) > from {
			tp.Permissions = strs[from:len(strs):len(strs)]
		}
		out = append(out, tp)
	}
	return out
}

// union sets seen to the permissions of the roles in m and returns how
// many there are.
func (f *FloorPermissions) union(m uint64, seen []uint64) int {
	clear(seen)
	for r := m; r != 0; r &= r - 1 {
		for i, w := range f.rolePerms[bits.TrailingZeros64(r)] {
			seen[i] |= w
		}
	}
	n := 0
	for _, w := range seen {
		n += bits.OnesCount64(w)
	}
	return n
}
