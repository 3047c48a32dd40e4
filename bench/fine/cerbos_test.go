package fine

import (
	"encoding/json"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// celRules compiles the rules of the Cerbos policies with cel-go, in an
// environment like the one Cerbos (v0.55.0, internal/conditions) builds:
// P and R dynamic, cross-type numeric comparisons, the strings extension.
// It returns the programs by "type\x00action".
func celRules(t *testing.T, p *CerbosPolicies) map[string][]cel.Program {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("P", cel.DynType), cel.Variable("R", cel.DynType),
		cel.CrossTypeNumericComparisons(true), ext.Strings())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]cel.Program{}
	for name, b := range p.Files {
		var doc struct {
			ResourcePolicy struct {
				Resource string
				Rules    []struct {
					Actions   []string
					Condition struct{ Match struct{ Expr string } }
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range doc.ResourcePolicy.Rules {
			ast, iss := env.Compile(r.Condition.Match.Expr)
			if iss.Err() != nil {
				t.Fatalf("%s: %v\n%s", name, iss.Err(), r.Condition.Match.Expr)
			}
			prg, err := env.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			k := doc.ResourcePolicy.Resource + "\x00" + r.Actions[0]
			out[k] = append(out[k], prg)
		}
	}
	return out
}

// TestCerbosTranslation checks the CEL translation of the ABAC data set
// (and of 20 smaller ones with other seeds, for more condition trees)
// against every check's expected answer, evaluating the policies' rules
// with cel-go on the request bodies sent to Cerbos, as JSON decodes them.
// A rule that raises an error fails the test (Cerbos would count it
// false, which could hide a wrong translation). The real server answers
// the same checks in cmd/finehttp -abac.
func TestCerbosTranslation(t *testing.T) {
	sets := []*authztest.ABACDataset{LoadABAC(2000).DS}
	var queries [][]authztest.FineQuery
	queries = append(queries, LoadABAC(2000).Checks)
	for seed := uint64(100); seed < 120; seed++ {
		ds := authztest.GenerateABAC(seed, 200, 300)
		sets = append(sets, ds)
		queries = append(queries, ds.Queries(500, seed+1))
	}
	for n, ds := range sets {
		p, err := CerbosOf(&ds.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Untranslated) > 0 {
			t.Fatalf("data set %d: untranslated condition sets: %v", n, p.Untranslated)
		}
		rules := celRules(t, p)
		x := NewABACIndex(&ds.Data)
		allowed := 0
		for _, q := range queries[n] {
			body, err := x.CerbosRequest(&q.Request)
			if err != nil {
				t.Fatal(err)
			}
			var req struct {
				Principal map[string]any
				Resources []struct {
					Actions  []string
					Resource map[string]any
				}
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			r := req.Resources[0]
			act := map[string]any{"P": req.Principal, "R": r.Resource}
			got := false
			for _, prg := range rules[r.Resource["kind"].(string)+"\x00"+r.Actions[0]] {
				v, _, err := prg.Eval(act)
				if err != nil {
					t.Fatalf("data set %d: check %+v: CEL error: %v", n, q.Request, err)
				}
				if v.Value() == true {
					got = true
					break
				}
			}
			if got != q.Want {
				t.Fatalf("data set %d: check %+v: CEL says %v, want %v\nrequest %s", n, q.Request, got, q.Want, body)
			}
			if got {
				allowed++
			}
		}
		if allowed == 0 || allowed == len(queries[n]) {
			t.Fatalf("data set %d: %d of %d checks allowed: the checks decide nothing", n, allowed, len(queries[n]))
		}
	}
}

// TestCerbosRefuses checks that what has no faithful translation is
// reported, not approximated.
func TestCerbosRefuses(t *testing.T) {
	for _, c := range []string{
		`{"user.address.city": {"equals": "Paris"}}`,
		`{"resource.amount": {"equals": 9007199254740993}}`,
		`{"resource.gatehouse": {"equals": "x"}}`,
	} {
		if _, err := celConditions(json.RawMessage(c)); err == nil {
			t.Errorf("%s: translated, want refused", c)
		}
	}
}
