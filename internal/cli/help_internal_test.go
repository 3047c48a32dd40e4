package cli

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// argName is what a flag's help may quote in backticks: the name of its
// argument (--key-file FILE).
var argName = regexp.MustCompile(`^[A-Z][A-Z_]*$`)

// TestFlagHelp walks every command: no flag's help quotes words in
// backticks other than its argument's name (cobra shows whatever is quoted
// as the argument: "--key gatehouse login"), and only the commands that
// open the server's database show its flags.
func TestFlagHelp(t *testing.T) {
	t.Parallel()
	root, err := newRoot(context.Background(), func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var global []string
	for _, s := range config.Settings {
		if s.Global && s.Flag != "" {
			global = append(global, s.Flag)
		}
	}
	server := map[string]bool{"gatehouse serve": true, "gatehouse init": true, "gatehouse migrate": true, "gatehouse setup-link": true,
		"gatehouse secret-key rotate": true, "gatehouse backup": true}
	var walk func(*cobra.Command)
	seen := 0
	walk = func(cmd *cobra.Command) {
		seen++
		path := cmd.CommandPath()
		check := func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				if name, _ := pflag.UnquoteUsage(f); !argName.MatchString(name) {
					t.Errorf("%s --%s: its help quotes words in backticks, so it shows as --%s %s", path, f.Name, f.Name, name)
				}
			}
		}
		cmd.Flags().VisitAll(check)
		cmd.InheritedFlags().VisitAll(check)
		for _, name := range global {
			f := cmd.Flags().Lookup(name)
			if f == nil {
				f = cmd.InheritedFlags().Lookup(name)
			}
			// The commands that talk to a server have a --config of their
			// own (the login file), not the setting's (which carries its
			// variable).
			has := f != nil && f.Annotations[cmdkit.EnvAnnotation] != nil
			switch {
			case server[path] && !has:
				t.Errorf("%s lacks --%s", path, name)
			case !server[path] && has && !(cmd.Name() == "pdp" && (strings.HasPrefix(name, "log-") || name == "config")):
				t.Errorf("%s shows the server's --%s", path, name)
			}
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
	if seen < 60 {
		t.Fatalf("walked %d commands: the tree is not all there", seen)
	}
}
