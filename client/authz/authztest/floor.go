package authztest

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
