package cli

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

// settingFlags gives cmd a flag for each declared setting that has one: the
// global ones (as persistent flags, for every command) or those of serve.
// Each flag's default is cfg's value, the defaults with the environment
// applied.
func settingFlags(cmd *cobra.Command, cfg *config.Config, global bool) error {
	fs := cmd.Flags()
	if global {
		fs = cmd.PersistentFlags()
	}
	for _, s := range config.Settings {
		if s.Flag == "" || s.Global != global {
			continue
		}
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
	}
	return nil
}
