package jobs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

func parseFile(t *testing.T, opt Options, in ImportInput) ([]spooledBatch, []int, error) {
	t.Helper()
	s := &Service{Opt: opt}
	var spool bytes.Buffer
	if _, err := s.parse(in, &spool); err != nil {
		return nil, nil, err
	}
	var batches []spooledBatch
	var sizes []int
	sc := bufio.NewScanner(&spool)
	sc.Buffer(nil, 2*MaxBatchBytes)
	for sc.Scan() {
		var b spooledBatch
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatalf("spool line: %v", err)
		}
		batches = append(batches, b)
		sizes = append(sizes, len(b.Rows))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return batches, sizes, nil
}

// A batch ends at batch_size rows or MaxBatchBytes, whichever comes first:
// wide rows make smaller batches, never one that holds the file.
func TestParseBatchesAreBounded(t *testing.T) {
	t.Parallel()
	blob := strings.Repeat("<x>", 5_000/3) // HTML characters are kept as they are
	var file strings.Builder
	const n, limit = 300, 64 << 10 // MaxBatchBytes, scaled down
	for i := 0; i < n; i++ {
		fmt.Fprintf(&file, `{"type":"user","key":"u%d","attributes":{"blob":"%s"}}`+"\n", i, blob)
	}
	opt := DefaultOptions()
	opt.maxBatchBytes = limit
	batches, sizes, err := parseFile(t, opt, ImportInput{Format: FormatJSONL, BatchSize: 5000, Body: strings.NewReader(file.String())})
	if err != nil {
		t.Fatal(err)
	}
	var rows, next int64 = 0, 1
	for i, b := range batches {
		if sizes[i] > limit {
			t.Errorf("batch %d holds %d bytes of rows, over %d", i, sizes[i], limit)
		}
		var lr []lineRow
		if err := json.Unmarshal(b.Rows, &lr); err != nil {
			t.Fatal(err)
		}
		if int64(len(lr)) != b.Count || b.First != next || b.Last != next+b.Count-1 || lr[0].Line != b.First {
			t.Errorf("batch %d: count %d first %d last %d, %d rows", i, b.Count, b.First, b.Last, len(lr))
		}
		if !strings.Contains(string(lr[0].Row.Attributes), "<x>") {
			t.Errorf("attributes changed: %.40s", lr[0].Row.Attributes)
		}
		rows += b.Count
		next = b.Last + 1
	}
	if rows != n || len(batches) < 20 {
		t.Errorf("%d rows in %d batches", rows, len(batches))
	}
	// Narrow rows still fill batch_size.
	file.Reset()
	for i := 0; i < 25; i++ {
		fmt.Fprintf(&file, `{"type":"user","key":"u%d"}`+"\n", i)
	}
	batches, _, err = parseFile(t, DefaultOptions(), ImportInput{Format: FormatJSONL, BatchSize: 10, Body: strings.NewReader(file.String())})
	if err != nil || len(batches) != 3 || batches[0].Count != 10 || batches[2].Count != 5 {
		t.Errorf("narrow rows: %d batches, %v", len(batches), err)
	}
}

func TestParseRefusals(t *testing.T) {
	t.Parallel()
	const prefix, suffix = `{"type":"user","key":"a","attributes":{"b":"`, `"}}`
	atLimit := prefix + strings.Repeat("b", MaxRowBytes-len(prefix)-len(suffix)) + suffix
	few := DefaultOptions()
	few.MaxImportRows = 3
	tests := []struct {
		name string
		opt  Options
		in   ImportInput
		msg  string // in the error's message
		line int64  // of the first row error (0: none)
	}{
		{"too many rows", few, ImportInput{Format: FormatCSV, RowType: "users", Body: strings.NewReader("key\na\nb\nc\nd\n")}, "line 5: an import has at most 3 rows", 0},
		{"long JSON line", DefaultOptions(), ImportInput{Format: FormatJSONL, Body: strings.NewReader(`{"type":"user","key":"a"}` + "\n" + `{"type":"user","key":"` + strings.Repeat("b", MaxRowBytes) + "\"}\n")},
			"first at line 2: a line is longer than 1048576 bytes (the limit of a row)", 2},
		{"line at the limit", DefaultOptions(), ImportInput{Format: FormatJSONL, Body: strings.NewReader(atLimit + "\r\n" + atLimit)}, "", 0},
		{"CSV columns", DefaultOptions(), ImportInput{Format: FormatCSV, RowType: "users", Body: strings.NewReader("key\nada" + strings.Repeat(",", MaxColumns) + "\n")},
			"first at line 2: a row has more than 32 cells (the limit of a row)", 2},
		{"CSV header over a limit", DefaultOptions(), ImportInput{Format: FormatCSV, RowType: "users", Body: strings.NewReader("key" + strings.Repeat(",key", MaxColumns) + "\n")},
			"line 1: a row has more than 32 cells", 0},
		{"long unknown field", DefaultOptions(), ImportInput{Format: FormatJSONL, Body: strings.NewReader(`{"type":"user","key":"a","` + strings.Repeat("z", 500_000) + `":1}`)},
			"first at line 1: not a JSON object of a row: unknown field", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.BatchSize = DefaultBatchSize
			_, _, err := parseFile(t, tc.opt, tc.in)
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest || !strings.Contains(gatehouse.ErrorMessage(err), tc.msg) {
				t.Fatalf("%v, want a 400 with %q", err, tc.msg)
			}
			if len(gatehouse.ErrorMessage(err)) > 2*maxErrorMessage {
				t.Errorf("a message of %d bytes", len(gatehouse.ErrorMessage(err)))
			}
			if tc.line > 0 {
				var ge *gatehouse.Error
				if !errors.As(err, &ge) {
					t.Fatal(err)
				}
				errs := ge.Details["errors"].([]facts.RowError)
				if errs[0].Line != tc.line || len(errs[0].Message) > maxErrorMessage+len("…") {
					t.Errorf("row errors %.200v", errs)
				}
			}
		})
	}
}

func TestJSONHasEscapedNUL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"a":"\u0000"}`:        true,
		`{"\u0000":1}`:          true,
		`{"a":"x\\\u0000"}`:     true,  // an escaped backslash, then a NUL
		`{"a":"\\u0000"}`:       false, // a backslash, then the text u0000
		`{"a":"\\\\u0000"}`:     false,
		`{"a":"\u00001"}`:       true,
		`{"a":"\u0001"}`:        false,
		`{"a":"u0000"}`:         false,
		`{"a":"\"\u0000\""}`:    true,
		`{"a":"\\"}` + `\u0000`: true, // not JSON anyway
	} {
		if got := jsonHasEscapedNUL([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
		if want {
			var v any
			if json.Unmarshal([]byte(in), &v) == nil && !strings.Contains(fmt.Sprint(v), "\x00") {
				t.Errorf("%s: decodes without a NUL", in)
			}
		}
	}
}

// The fine-grained kinds: CSV of instances, tuples and assignments on
// instances; JSON Lines rows checked on their own before anything is
// applied.
func TestParseFineRows(t *testing.T) {
	t.Parallel()
	rowsOf := func(t *testing.T, in ImportInput) []facts.Row {
		t.Helper()
		in.BatchSize = DefaultBatchSize
		batches, _, err := parseFile(t, DefaultOptions(), in)
		if err != nil {
			t.Fatal(err)
		}
		var out []facts.Row
		for _, b := range batches {
			var lr []lineRow
			if err := json.Unmarshal(b.Rows, &lr); err != nil {
				t.Fatal(err)
			}
			for _, x := range lr {
				out = append(out, x.Row)
			}
		}
		return out
	}
	for _, c := range []struct {
		typ, file, want string
	}{
		{"resource_instances", "resource,key,tenant,attributes\ndocument,d1,acme,\"{\"\"pages\"\":3}\"\nfolder,f1,,\n",
			`[{"type":"resource_instance","key":"d1","attributes":{"pages":3},"tenant":"acme","resource":"document"} {"type":"resource_instance","key":"f1","resource":"folder"}]`},
		{"relationship-tuples", "subject,relation,object\nteam:t1#member,editor,folder:f1\n",
			`[{"type":"relationship_tuple","subject":"team:t1#member","relation":"editor","object":"folder:f1"}]`},
		{"role_assignments", "user,role,resource_instance\nada,editor,folder:f1\n",
			`[{"type":"role_assignment","user":"ada","role":"editor","resource_instance":"folder:f1"}]`},
	} {
		var got []string
		for _, r := range rowsOf(t, ImportInput{Format: FormatCSV, RowType: c.typ, Body: strings.NewReader(c.file)}) {
			b, _ := json.Marshal(r)
			got = append(got, string(b))
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("%s: %v\nwant %s", c.typ, got, c.want)
		}
	}
	file := strings.Join([]string{
		`{"type":"relation","resource":"document","key":"parent","subject":"folder"}`,
		`{"type":"relation","resource":"document","key":"parent"}`,
		`{"type":"resource_role","key":"editor","permissions":["read"]}`,
		`{"type":"relationship_tuple","subject":"folder:f1","relation":"parent"}`,
		`{"type":"condition_set","key":"c","set_type":"everyone","conditions":{"user.a":{"equals":1}}}`,
		`{"type":"condition_set","key":"c","set_type":"userset","conditions":{"user.a":{"frobnicates":1}}}`,
		`{"type":"set_rule","user_set":"u","action":"read"}`,
		`{"type":"role_assignment","user":"ada","role":"editor","resource_instance":"f1"}`,
		`{"type":"resource_instance","resource":"document","key":"d1","attributes":[1]}`,
		`{"type":"condition_set","key":"c","set_type":"userset","conditions":{"user.a":{"equals":1}}}`,
	}, "\n")
	_, _, err := parseFile(t, DefaultOptions(), ImportInput{Format: FormatJSONL, BatchSize: DefaultBatchSize, Body: strings.NewReader(file)})
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		t.Fatalf("%v, want the file refused", err)
	}
	var got []string
	for _, e := range ge.Details["errors"].([]facts.RowError) {
		got = append(got, fmt.Sprintf("%d:%s", e.Line, e.Field))
	}
	if want := "[2:subject 3:resource 4:object 5:set_type 6:conditions 7:resource_set 8:resource_instance 9:attributes]"; fmt.Sprint(got) != want {
		t.Errorf("row errors %v, want %s", got, want)
	}
}

// Roles' and resource roles' attributes go through an import's parse as
// given; attributes that are not a JSON object refuse the file, naming the
// row and the field.
func TestParseRoleAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, row string
		want      string // the row's attributes after the parse
		errField  string // when refused
	}{
		{"role", `{"type":"role","key":"viewer","attributes":{"tier":"gold","n":[1,{"a":null}]}}`, `{"tier":"gold","n":[1,{"a":null}]}`, ""},
		{"role without", `{"type":"role","key":"viewer","permissions":["doc:read"]}`, ``, ""},
		{"empty object", `{"type":"role","key":"viewer","attributes":{}}`, `{}`, ""},
		{"resource role", `{"type":"resource_role","resource":"doc","key":"editor","attributes":{"owner":{"team":"docs"}}}`, `{"owner":{"team":"docs"}}`, ""},
		{"role string", `{"type":"role","key":"viewer","attributes":"gold"}`, "", "attributes"},
		{"role list", `{"type":"role","key":"viewer","attributes":["gold"]}`, "", "attributes"},
		{"role null", `{"type":"role","key":"viewer","attributes":null}`, "", "attributes"},
		{"resource role number", `{"type":"resource_role","resource":"doc","key":"editor","attributes":7}`, "", "attributes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			batches, _, err := parseFile(t, DefaultOptions(), ImportInput{Format: FormatJSONL, BatchSize: DefaultBatchSize, Body: strings.NewReader(tc.row)})
			if tc.errField != "" {
				var ge *gatehouse.Error
				if !errors.As(err, &ge) {
					t.Fatalf("%v, want the file refused", err)
				}
				errs := ge.Details["errors"].([]facts.RowError)
				if len(errs) != 1 || errs[0].Line != 1 || errs[0].Field != tc.errField {
					t.Fatalf("row errors %v, want line 1 field %s", errs, tc.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lr []lineRow
			if len(batches) != 1 {
				t.Fatalf("%d batches", len(batches))
			}
			if err := json.Unmarshal(batches[0].Rows, &lr); err != nil {
				t.Fatal(err)
			}
			if len(lr) != 1 || string(lr[0].Row.Attributes) != tc.want {
				t.Fatalf("attributes %s, want %s", lr[0].Row.Attributes, tc.want)
			}
		})
	}
}
