// Package cmdkit is what the command-line programs share: the gatehouse
// command (internal/cli) and gatehouse-pdp (internal/pdpcmd). Flags noted
// with their environment variables, a configuration file applied below
// both, API keys read from files, TLS listeners. It imports cobra, the
// configuration file's reader and the standard library only, so that
// gatehouse-pdp links none of the server's packages.
package cmdkit

import (
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/conffile"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvAnnotation names, on a flag, the environment variable that sets it
// too: a configuration file's value yields to it.
const EnvAnnotation = "gatehouse_env"

// secretFlags are flags whose values are credentials whatever they hold.
var secretFlags = map[string]bool{"key": true}

// AnnotateEnv notes on cmd's flag name the environment variable env that
// sets it too.
func AnnotateEnv(cmd *cobra.Command, name, env string) {
	if err := cmd.Flags().SetAnnotation(name, EnvAnnotation, []string{env}); err != nil {
		panic(err) // a flag renamed without its annotation
	}
}

// FlagInfo tells what a command knows of its flag name beyond its type:
// what a value should look like (empty: the parser's own error) and
// whether a value is a credential (nil: never, --key aside).
type FlagInfo func(name string) (want string, secret func(string) bool)

// ApplyFile reads the configuration file path and sets every flag of cmd
// it names (--config and --help aside) that neither the command line nor
// the flag's environment variable set: flag > environment > file >
// default. extra are further keys the file may hold (a server command's
// settings that have no flag of its own). A file holding a credential
// must not be open to other users: it is refused, saying so.
func ApplyFile(cmd *cobra.Command, path string, getenv func(string) string, info FlagInfo, extra map[string]conffile.Target) error {
	f, err := conffile.ReadFile(path)
	if err != nil {
		return err
	}
	targets := map[string]conffile.Target{}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == conffile.Flag || fl.Name == "help" {
			return
		}
		var want string
		var secret func(string) bool
		if info != nil {
			want, secret = info(fl.Name)
		}
		t := conffile.Target{Set: func(v string) error { return SetFlag(fl, want, v) }, Changed: func() bool { return fl.Changed }, Secret: secret}
		if env := fl.Annotations[EnvAnnotation]; len(env) == 1 {
			t.Env = env[0]
		}
		if secretFlags[fl.Name] {
			t.Secret = func(v string) bool { return v != "" }
		}
		t.TakesMap = fl.Name == "region-urls"
		t.TakesList = strings.HasSuffix(fl.Value.Type(), "Slice") || strings.HasSuffix(fl.Value.Type(), "Array")
		targets[fl.Name] = t
	})
	for k, t := range extra {
		targets[k] = t
	}
	secrets, err := f.Apply(targets, getenv)
	if err != nil {
		return err
	}
	if len(secrets) > 0 {
		if why := f.Exposed(); why != "" {
			return fmt.Errorf("config file %s holds credentials (%s) but %s: run chmod 600 %s (or 640 for a group such as the container's), or move them to the environment",
				f.Path, strings.Join(secrets, ", "), why, f.Path)
		}
	}
	return nil
}

// SetFlag sets fl from a file's value, saying what a value should look
// like (want, else by the flag's type) when it is refused.
func SetFlag(fl *pflag.Flag, want, v string) error {
	err := fl.Value.Set(v)
	if err == nil {
		return nil
	}
	if want != "" {
		return fmt.Errorf("want %s", want)
	}
	switch fl.Value.Type() {
	case "int", "int64":
		return fmt.Errorf("want a whole number")
	case "bool":
		return fmt.Errorf("want true or false")
	case "duration":
		return fmt.Errorf("want a duration such as 30s, 5m or 2h")
	case "durationSlice":
		return fmt.Errorf("want a list of durations such as [5s, 5m, 2h]")
	}
	return err
}
