package jobs

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// csvRecords reads every record with csvReader: "line:cells" or
// "line:error".
func csvRecords(in string, maxRow, maxCell, maxCols int) []string {
	r := newCSVReader(strings.NewReader(in), maxRow, maxCell, maxCols)
	var out []string
	for {
		line, rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if re, ok := isCSVRecordError(err); ok {
			out = append(out, fmt.Sprintf("%d:error", re.Line))
			continue
		}
		if err != nil {
			return append(out, "read error: "+err.Error())
		}
		out = append(out, fmt.Sprintf("%d:%q", line, rec))
	}
}

// stdRecords reads every record with encoding/csv, as the import did.
func stdRecords(in string) []string {
	r := csv.NewReader(strings.NewReader(in))
	r.FieldsPerRecord = -1
	var out []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, fmt.Sprintf("%d:error", pe.Line))
			continue
		}
		if err != nil {
			return append(out, "read error: "+err.Error())
		}
		line, _ := r.FieldPos(0)
		out = append(out, fmt.Sprintf("%d:%q", line, rec))
	}
}

// The bounded reader reads what encoding/csv reads, record for record,
// with the same line numbers and the same errors.
func TestCSVReaderMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"\n\n",
		"a,b,c\n1,2,3\n",
		"a,b,c\r\n1,2,3\r\n",
		"a,b\n1,2",       // no final line end
		"a,b\n1,2\r",     // a CR before the end
		"a,b\n\n\n1,2\n", // blank lines
		"a,b\r\n\r\n1,2\n",
		"a,,c\n,,\n",
		`a,"b,c",d` + "\n",
		`"he said ""hi""",x` + "\n",
		"\"multi\nline\",x\ny,z\n",
		"\"multi\r\nline\",x\n",
		"\"\",\"\"\n",
		"a\"b,c\nd,e\n",         // bare quote
		"\"a\"b,c\nd,e\n",       // text after a closing quote
		"\"unclosed,c\nd,e\n",   // a quote never closed
		"\"a\nb\"x\nc,d\ne,f\n", // an error on a quoted cell's second line
		"a\rb,c\n",              // a lone CR is data
		" a , b \n",
		"\ufeffkey,email\nada,a@b.c\n",
		"x\n\"\"\n",
		"a,b\n,\n",
	} {
		got, want := csvRecords(in, 1<<20, 1<<20, 1000), stdRecords(in)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q:\n got  %v\n want %v", in, got, want)
		}
	}
}

// A record over a limit is an error naming its first line, and the reader
// goes on with the next record.
func TestCSVReaderLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40)
	tests := []struct {
		name, in string
		want     []string
		column   int
	}{
		{"row", "a,b\n" + long[:30] + "," + long[:30] + "," + long[:30] + "\nc,d\n", []string{`1:["a" "b"]`, "2:error", `3:["c" "d"]`}, 0},
		{"cell and row", "a,b\n" + long + "," + long + "\nc,d\n", []string{`1:["a" "b"]`, "2:error", `3:["c" "d"]`}, 1},
		{"row exactly at the limit", "a,b\n" + long[:31] + "," + long[:32] + "\n", []string{`1:["a" "b"]`, fmt.Sprintf(`2:["%s" "%s"]`, long[:31], long[:32])}, 0},
		{"cell", "a,b\nc," + long + "\ne,f\n", []string{`1:["a" "b"]`, "2:error", `3:["e" "f"]`}, 2},
		{"quoted cell over lines", "a,b\n\"" + strings.Repeat("x\n", 20) + "\",c\ne,f\n", []string{`1:["a" "b"]`, "2:error", `23:["e" "f"]`}, 1},
		{"columns", "a,b\n1,2,3,4,5\nc,d\n", []string{`1:["a" "b"]`, "2:error", `3:["c" "d"]`}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := csvRecords(tc.in, 64, 32, 4); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			r := newCSVReader(strings.NewReader(tc.in), 64, 32, 4)
			for {
				_, _, err := r.Read()
				if err == io.EOF {
					break
				}
				if re, ok := isCSVRecordError(err); ok && re.Column != tc.column {
					t.Errorf("column %d, want %d (%s)", re.Column, tc.column, re.Msg)
				}
			}
		})
	}
}

// A cell of any size costs the reader no more than its limits.
func TestCSVReaderHugeCellIsNotHeld(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	body := io.MultiReader(strings.NewReader("key,first_name\nada,\""), &repeatReader{b: 'a', n: size}, strings.NewReader("\"\nbob,Bob\n"))
	r := newCSVReader(body, 1<<20, 256<<10, 32)
	var got []string
	for {
		line, rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if re, ok := isCSVRecordError(err); ok {
			got = append(got, fmt.Sprintf("%d:%d:%s", re.Line, re.Column, re.Msg))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%q", line, rec))
	}
	want := `[1:["key" "first_name"] 2:2:a cell is longer than 262144 bytes (the limit of a cell) 3:["bob" "Bob"]]`
	if fmt.Sprint(got) != want {
		t.Errorf("got  %v\nwant %s", got, want)
	}
	if c := cap(r.buf); c > 2<<20 {
		t.Errorf("the reader's buffer grew to %d bytes", c)
	}
}

// repeatReader reads n bytes b.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

// Random inputs of the characters that matter read alike too.
func TestCSVReaderMatchesEncodingCSVRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 8))
	alphabet := []string{"a", "b", ",", `"`, "\n", "\r", "\r\n", " "}
	for i := 0; i < 10000; i++ {
		var b strings.Builder
		for n := rng.IntN(16); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		got, want := csvRecords(in, 1<<20, 1<<20, 1000), stdRecords(in)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q:\n got  %v\n want %v", in, got, want)
		}
	}
}

func FuzzCSVReader(f *testing.F) {
	f.Add("a,b\n\"c\"\"d\",e\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := csvRecords(in, 1<<20, 1<<20, 1000), stdRecords(in); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q:\n got  %v\n want %v", in, got, want)
		}
	})
}

// With small limits, the reader reads what encoding/csv reads except the
// records over a limit, which are errors on the same line.
func TestCSVReaderLimitsMatchEncodingCSVRandom(t *testing.T) {
	t.Parallel()
	const maxRow, maxCell, maxCols = 12, 4, 3
	rng := rand.New(rand.NewPCG(8, 13))
	alphabet := []string{"a", "bb", ",", `"`, "\n", "\r\n", "ccccc"}
	for i := 0; i < 10000; i++ {
		var b strings.Builder
		for n := rng.IntN(20); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		got := csvRecords(in, maxRow, maxCell, maxCols)
		std := csv.NewReader(strings.NewReader(in))
		std.FieldsPerRecord = -1
		var want []string
		var offset int64
		for {
			rec, err := std.Read()
			if err == io.EOF {
				break
			}
			size := std.InputOffset() - offset // an upper bound of the record's bytes
			offset = std.InputOffset()
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				want = append(want, fmt.Sprintf("%d:error", pe.Line))
				continue
			}
			line, _ := std.FieldPos(0)
			over := len(rec) > maxCols
			for _, f := range rec {
				over = over || len(f) > maxCell
			}
			switch {
			case over:
				want = append(want, fmt.Sprintf("%d:error", line))
			case size > maxRow: // maybe over: either
				want = append(want, fmt.Sprintf("%d:error|%d:%q", line, line, rec))
			default:
				want = append(want, fmt.Sprintf("%d:%q", line, rec))
			}
		}
		ok := len(got) == len(want)
		for j := 0; ok && j < len(got); j++ {
			either := strings.SplitN(want[j], "|", 2)
			ok = got[j] == either[0] || (len(either) == 2 && got[j] == either[1])
		}
		if !ok {
			t.Fatalf("%q:\n got  %v\n want %v", in, got, want)
		}
	}
}
