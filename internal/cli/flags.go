package cli

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

// settingFlags gives cmd a flag for each declared setting that has one: the
// global ones (the database's and logging's, for the server commands) or
// those of serve.
// Each flag's default is cfg's value, the defaults with the environment
// applied.
func settingFlags(cmd *cobra.Command, cfg *config.Config, global bool) error {
	for _, s := range config.Settings {
		if s.Flag == "" || s.Global != global {
			continue
		}
		if err := addSetting(cmd, cfg, s); err != nil {
			return err
		}
	}
	return nil
}

// settingFlag gives cmd the flag of the declared setting named flag, one of
// serve's that this command takes too (init's --public-url).
func settingFlag(cmd *cobra.Command, cfg *config.Config, flag string) error {
	for _, s := range config.Settings {
		if s.Flag == flag {
			return addSetting(cmd, cfg, s)
		}
	}
	return fmt.Errorf("no setting has the flag --%s", flag)
}

// addSetting adds s's flag to cmd.
func addSetting(cmd *cobra.Command, cfg *config.Config, s config.Setting) error {
	fs := cmd.Flags()
	switch p := s.Ptr(cfg).(type) {
	case *string:
		fs.StringVar(p, s.Flag, *p, s.Usage())
	case *int:
		fs.IntVar(p, s.Flag, *p, s.Usage())
	case *int64:
		fs.Int64Var(p, s.Flag, *p, s.Usage())
	case *bool:
		fs.BoolVar(p, s.Flag, *p, s.Usage())
	case *time.Duration:
		fs.DurationVar(p, s.Flag, *p, s.Usage())
	case *[]time.Duration:
		fs.DurationSliceVar(p, s.Flag, *p, s.Usage())
	case *[]string:
		fs.StringSliceVar(p, s.Flag, *p, s.Usage())
	case config.Value:
		fs.Var(p, s.Flag, s.Usage())
	default:
		return fmt.Errorf("setting --%s: no flag for a %T", s.Flag, p)
	}
	cmdkit.AnnotateEnv(cmd, s.Flag, s.Env)
	return nil
}
