// Package fine compares Gatehouse's fine-grained engine (ReBAC and ABAC,
// issue 15) with OpenFGA, SpiceDB and OPA in process, on the data sets of
// authz/authztest, verifying every answer against the expected one before
// anything is timed. The benchmarks in this package and cmd/finebench
// share it.
package fine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// Seed of every generated data set.
const Seed = 15

// ListQuery is a list-objects query with its expected answer (sorted keys).
type ListQuery struct {
	User, Resource, Action string
	Want                   []string
}

// ReBAC is the ReBAC data set at one scale with checks and list queries.
type ReBAC struct {
	Scale   float64
	DS      *authztest.ReBACDataset
	Checks  []authztest.FineQuery // no tenant named: the peers have no tenants
	Lists   []ListQuery           // one ordinary user, and Lister
	Allowed int                   // checks expected allowed
}

// Lister is a user added to the data set who may read about 10k of the
// 200k documents (at scale 1), through viewer roles on root folders.
const Lister = "lister"

var (
	rebacMu    sync.Mutex
	rebacCache = map[float64]*ReBAC{}
)

// LoadReBAC generates (once per scale) the data set, nChecks checks and
// the list queries, all answered by authztest's naive model.
func LoadReBAC(scale float64, nChecks int) *ReBAC {
	rebacMu.Lock()
	defer rebacMu.Unlock()
	if r := rebacCache[scale]; r != nil && len(r.Checks) >= nChecks/2 {
		return r
	}
	r := newReBAC(scale, nChecks)
	rebacCache[scale] = r
	return r
}

// newReBAC is LoadReBAC without the cache.
func newReBAC(scale float64, nChecks int) *ReBAC {
	shape := authztest.ReBACFull
	if scale != 1 {
		shape = shape.Scale(scale)
	}
	ds := authztest.GenerateReBAC(Seed, shape)
	addLister(ds, 10_000*scale)
	r := &ReBAC{Scale: scale, DS: ds}
	for _, q := range ds.Queries(nChecks, Seed+1) {
		if q.Request.Tenant != "" {
			continue
		}
		r.Checks = append(r.Checks, q)
		if q.Want {
			r.Allowed++
		}
	}
	m := authztest.NewModel(ds.Data)
	// The user with the most direct assignments, and the lister.
	count := map[string]int{}
	for _, a := range ds.Data.Assignments {
		count[a.User]++
	}
	busiest := ""
	for u, n := range count {
		if u != Lister && (n > count[busiest] || n == count[busiest] && u < busiest) {
			busiest = u
		}
	}
	for _, u := range []string{busiest, Lister} {
		q := authz.Request{User: u, Resource: "document", Action: "read"}
		r.Lists = append(r.Lists, ListQuery{User: u, Resource: "document", Action: "read", Want: m.Resources(q)})
	}
	return r
}

// addLister gives Lister the viewer role on root folders (in key order)
// until the documents below them reach want.
func addLister(ds *authztest.ReBACDataset, want float64) {
	d := &ds.Data
	children := map[string][]string{}
	docs := map[string]int{}
	hasParent := map[string]bool{}
	for _, t := range d.Tuples {
		if t.Relation != "parent" {
			continue
		}
		if strings.HasPrefix(t.Object, "document:") {
			docs[t.Subject]++
		} else {
			children[t.Subject] = append(children[t.Subject], t.Object)
			hasParent[t.Object] = true
		}
	}
	var below func(f string) int
	below = func(f string) int {
		n := docs[f]
		for _, c := range children[f] {
			n += below(c)
		}
		return n
	}
	tenantOf := map[string]string{}
	var roots []string
	for _, in := range d.Instances {
		if in.Resource == "folder" {
			ref := "folder:" + in.Key
			tenantOf[ref] = in.Tenant
			if !hasParent[ref] {
				roots = append(roots, ref)
			}
		}
	}
	d.Users = append(d.Users, authz.User{Key: Lister})
	total := 0
	for _, f := range roots {
		if float64(total) >= want {
			break
		}
		n := below(f)
		if float64(total+n) > want*1.1 && total > 0 {
			continue
		}
		total += n
		d.Assignments = append(d.Assignments, authz.Assignment{User: Lister, Role: "viewer", Tenant: tenantOf[f], ResourceInstance: f})
	}
}

// Relationships counts what the data set relates: tuples and instance
// role assignments (both are relationship tuples to OpenFGA and SpiceDB).
func (r *ReBAC) Relationships() int { return len(r.DS.Data.Tuples) + len(r.DS.Data.Assignments) }

// Gatehouse loads the data set into an engine.
func (r *ReBAC) Gatehouse() (*authz.Engine, error) {
	e := authz.New()
	return e, e.Load(r.DS.Data)
}

// VerifyGatehouse checks every check and list query against the engine.
func (r *ReBAC) VerifyGatehouse(e *authz.Engine) error {
	for i := range r.Checks {
		q := &r.Checks[i]
		if got := e.Decide(&q.Request).Allow; got != q.Want {
			return fmt.Errorf("gatehouse: check %+v = %v, want %v", q.Request, got, q.Want)
		}
	}
	for _, l := range r.Lists {
		got := e.ListResources(&authz.Request{User: l.User, Resource: l.Resource, Action: l.Action})
		if !slices.Equal(got, l.Want) {
			return fmt.Errorf("gatehouse: list %s %s %s: %d keys, want %d", l.User, l.Action, l.Resource, len(got), len(l.Want))
		}
	}
	return nil
}

// sortedCopy returns keys sorted, without a type prefix "typ:".
func sortedCopy(keys []string, typ string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, typ+":")
	}
	sort.Strings(out)
	return out
}
