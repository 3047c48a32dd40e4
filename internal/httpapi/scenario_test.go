package httpapi_test

import (
	"reflect"
	"testing"
)

// scenario is one API call and what it must answer: a row of a table test.
type scenario struct {
	name         string
	key          string
	method, path string
	body         any // a string (sent as is) or a value (JSON)
	status       int
	code         string         // the error's code, when set
	data         map[string]any // fields the answer's data must hold, as JSON decodes them (numbers are float64)
}

// scenarios runs table's rows on s, in parallel, each a subtest (rows must
// not depend on one another), and returns when all have run.
func (s *server) scenarios(t *testing.T, table []scenario) {
	t.Helper()
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range table {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sub := *s
				sub.t = t // failures are the row's
				res := sub.do(req{method: sc.method, path: sc.path, key: sc.key, body: sc.body})
				if res.status != sc.status || sc.code != "" && res.code() != sc.code {
					t.Fatalf("%s %s: %d %s, want %d %s\n%s", sc.method, sc.path, res.status, res.code(), sc.status, sc.code, res.raw)
				}
				for k, want := range sc.data {
					if got := res.data()[k]; !reflect.DeepEqual(got, want) {
						t.Errorf("%s %s: data.%s = %v, want %v", sc.method, sc.path, k, got, want)
					}
				}
			})
		}
	})
}
