package cli

import (
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/conffile"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

// applyConfigFile reads the --config file of cmd (if it has the flag and
// one is named) and sets every flag it names that neither the command
// line nor the environment set: flag > environment > file > default.
// Server commands take every setting from it, the environment-only ones
// (secret-key, previous-secret-key, shutdown-timeout) included. A file holding a
// credential must not be open to other users: it is refused, saying so.
// (The pdp command applies its own: internal/pdpcmd.)
func applyConfigFile(cmd *cobra.Command, cfg *config.Config, getenv func(string) string, stderr io.Writer) error {
	// The server's --config (a setting's flag, annotated with its
	// variable), not the --config of the commands that talk to a server
	// (their login file).
	if fl := cmd.Flags().Lookup("config"); fl == nil || fl.Annotations[cmdkit.EnvAnnotation] == nil || cfg.ConfigFile == "" {
		return nil
	}
	settings := map[string]config.Setting{}
	for _, s := range config.Settings {
		settings[s.FileKey()] = s
	}
	info := func(name string) (string, func(string) bool) {
		s, ok := settings[name]
		if ok && s.Flag == name {
			return s.Want, s.Secret
		}
		return s.Want, nil
	}
	// A server command takes every setting: one file serves serve, init,
	// migrate... alike, each taking what it uses (init's links follow
	// public-url and tls-cert).
	var extra map[string]conffile.Target
	if cmd.Flags().Lookup("database-url") != nil {
		extra = map[string]conffile.Target{}
		for _, s := range config.Settings {
			if cmd.Flags().Lookup(s.FileKey()) == nil && s.Flag != "config" {
				extra[s.FileKey()] = conffile.Target{Set: func(v string) error { return s.ParseValue(cfg, v) }, Env: s.Env, Secret: s.Secret,
					TakesMap: s.Flag == "region-urls", TakesList: s.TakesList()}
			}
		}
	}
	return cmdkit.ApplyFile(cmd, cfg.ConfigFile, getenv, info, extra)
}
