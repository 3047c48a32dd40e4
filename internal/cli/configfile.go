package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envAnnotation names, on a flag, the environment variable that sets it
// too: a configuration file's value yields to it.
const envAnnotation = "gatehouse_env"

// secretFlags are flags whose values are credentials whatever they hold.
var secretFlags = map[string]bool{"key": true}

// applyConfigFile reads the --config file of cmd (if it has the flag and
// one is named) and sets every flag it names that neither the command
// line nor the environment set: flag > environment > file > default.
// Server commands take every setting from it, the environment-only ones
// (secret-key, previous-secret-key, shutdown-timeout) included. A file holding a
// credential must not be open to other users: it is refused, saying so.
func applyConfigFile(cmd *cobra.Command, cfg *config.Config, getenv func(string) string, stderr io.Writer) error {
	// The server's --config (a setting's flag, annotated with its
	// variable), not the --config of the commands that talk to a server
	// (their login file).
	if fl := cmd.Flags().Lookup("config"); fl == nil || fl.Annotations[envAnnotation] == nil || cfg.ConfigFile == "" {
		return nil
	}
	f, err := config.ReadFile(cfg.ConfigFile)
	if err != nil {
		return err
	}
	settings := map[string]config.Setting{}
	for _, s := range config.Settings {
		settings[s.FileKey()] = s
	}
	targets := map[string]config.Target{}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "config" || fl.Name == "help" {
			return
		}
		t := config.Target{Set: func(v string) error { return setFlag(fl, settings[fl.Name], v) }, Changed: func() bool { return fl.Changed }}
		if env := fl.Annotations[envAnnotation]; len(env) == 1 {
			t.Env = env[0]
		}
		if s, ok := settings[fl.Name]; ok && s.Flag == fl.Name {
			t.Secret = s.Secret
		}
		if secretFlags[fl.Name] {
			t.Secret = func(v string) bool { return v != "" }
		}
		t.TakesMap = fl.Name == "region-urls"
		targets[fl.Name] = t
	})
	// A server command takes every setting: one file serves serve, init,
	// migrate... alike, each taking what it uses (init's links follow
	// public-url and tls-cert).
	if cmd.Flags().Lookup("database-url") != nil {
		for _, s := range config.Settings {
			if cmd.Flags().Lookup(s.FileKey()) == nil && s.Flag != "config" {
				targets[s.FileKey()] = config.Target{Set: func(v string) error { return s.ParseValue(cfg, v) }, Env: s.Env, Secret: s.Secret,
					TakesMap: s.Flag == "region-urls"}
			}
		}
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

// setFlag sets fl from a file's value, saying what a value should look
// like when it is refused.
func setFlag(fl *pflag.Flag, s config.Setting, v string) error {
	err := fl.Value.Set(v)
	if err == nil {
		return nil
	}
	if s.Want != "" {
		return fmt.Errorf("want %s", s.Want)
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

// annotateEnv notes on cmd's flag name the environment variable env that
// sets it too.
func annotateEnv(cmd *cobra.Command, name, env string) {
	if err := cmd.Flags().SetAnnotation(name, envAnnotation, []string{env}); err != nil {
		panic(err) // a flag renamed without its annotation
	}
}
