package authztest

import (
	"math/bits"
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
	u, ok := f.users[user]
	if !ok {
		return false
	}
	t, ok := f.tenants[tenant]
	if !ok {
		return false
	}
	return f.pairs[uint64(u)<<32|uint64(t)]&f.perms[resource][action] != 0
}

func split(p string) (string, string) {
	for i := 0; i < len(p); i++ {
		if p[i] == ':' {
			return p[:i], p[i+1:]
		}
	}
	return p, ""
}

// FloorPermissions answers Permissions queries the plain way: a map per
// user of tenant → role mask, each role's permissions as a bitset over the
// sorted permission names, and the role keys sorted. Like Floor it keeps
// no lock and supports no changes.
type FloorPermissions struct {
	held      map[string]map[string]uint64 // user → tenant → roles
	roleKeys  []string                     // role bit → key
	roleOrder []int                        // role bits in key order
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
	roleBit := map[string]int{}
	for i, r := range ds.Data.Roles {
		roleBit[r.Key] = i
		f.roleKeys = append(f.roleKeys, r.Key)
		f.roleOrder = append(f.roleOrder, i)
		ws := make([]uint64, (len(f.permKeys)+63)/64)
		for p := range ds.Grants[r.Key] {
			if at, ok := rank[p]; ok {
				ws[at/64] |= 1 << (at % 64)
			}
		}
		f.rolePerms = append(f.rolePerms, ws)
	}
	sort.Slice(f.roleOrder, func(i, j int) bool { return f.roleKeys[f.roleOrder[i]] < f.roleKeys[f.roleOrder[j]] })
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
// is empty), tenants sorted, roles and permissions sorted.
func (f *FloorPermissions) Permissions(user string, tenants []string) []authz.TenantPermissions {
	ts := f.held[user]
	if ts == nil {
		return nil
	}
	if len(tenants) == 0 {
		for k := range ts {
			tenants = append(tenants, k)
		}
	}
	sort.Strings(tenants)
	out := make([]authz.TenantPermissions, 0, len(tenants))
	seen := make([]uint64, (len(f.permKeys)+63)/64)
	for _, tk := range tenants {
		m, ok := ts[tk]
		if !ok {
			continue
		}
		tp := authz.TenantPermissions{Tenant: tk, Roles: make([]string, 0, bits.OnesCount64(m))}
		clear(seen)
		for _, b := range f.roleOrder {
			if m&(1<<b) != 0 {
				tp.Roles = append(tp.Roles, f.roleKeys[b])
				for i, w := range f.rolePerms[b] {
					seen[i] |= w
				}
			}
		}
		n := 0
		for _, w := range seen {
			n += bits.OnesCount64(w)
		}
		if n > 0 {
			tp.Permissions = make([]string, 0, n)
		}
		for i, w := range seen {
			for ; w != 0; w &= w - 1 {
				tp.Permissions = append(tp.Permissions, f.permKeys[64*i+bits.TrailingZeros64(w)])
			}
		}
		out = append(out, tp)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
