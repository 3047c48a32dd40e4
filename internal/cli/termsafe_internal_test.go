package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestTablesShowNoControlCharacters: text from the server (a user's name,
// an incident's title) reaches an operator's terminal with its control
// characters written as escapes: no escape sequence runs, no tab or
// newline makes a cell or a row of its own.
func TestTablesShowNoControlCharacters(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &remote{stdout: &out, output: "table"}
	evil := "M\x1b]0;pwned\x07\x1b[2K\tfake\ncell\u009b1m\x7f"
	if err := r.print(nil, []string{"KEY", "NAME"}, [][]string{{"mallory", evil}, {"ada", "Ada Lovelace ✓"}}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, c := range []string{"\x1b", "\x07", "\u009b", "\x7f", "\tfake"} {
		if strings.Contains(got, c) {
			t.Fatalf("the table holds %q:\n%q", c, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines != 3 {
		t.Fatalf("%d lines, want 3 (header and two rows):\n%s", lines, got)
	}
	if !strings.Contains(got, `M\x1b]0;pwned\a\x1b[2K\tfake\ncell\u009b1m\x7f`) || !strings.Contains(got, "Ada Lovelace ✓") {
		t.Fatalf("the cells are not shown as escapes and plain text:\n%s", got)
	}
}

// TestErrorMessagesShowNoControlCharacters: an error message keeps its
// lines and tabs, and shows any other control character as an escape.
func TestErrorMessagesShowNoControlCharacters(t *testing.T) {
	t.Parallel()
	got := TermSafeMessage("a user with key \"m\x1b]0;pwned\x07\" already exists\n\tsee --help\u009b")
	if want := `a user with key "m\x1b]0;pwned\a" already exists` + "\n\tsee --help" + `\u009b`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
