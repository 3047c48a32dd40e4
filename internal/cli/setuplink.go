package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

func setupLinkCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	var email, org string
	cmd := &cobra.Command{
		Use:   "setup-link --email EMAIL",
		Short: "Make a one-time link with which a member chooses a dashboard password (a lost Admin password)",
		Long: `Make a one-time link with which the member with EMAIL chooses a dashboard password. It
works once, for 7 days. It runs on the server's database: on the embedded default, stop
gatehouse serve first (or let an Admin make the link in the dashboard, under Members). The
link starts with --public-url, else with http:// and serve's listen address (GATEHOUSE_ADDR).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if email == "" {
				return fmt.Errorf("--email is required")
			}
			a, err := app.New(ctx, *cfg, newLogger(*cfg, stderr))
			if err != nil {
				return err
			}
			defer a.Close()
			path, m, err := a.SetupLink(ctx, email, org)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Setup link for %s (once, within 7 days):\n  %s%s\n", m.Email, cfg.PublicBase(cfg.Addr), path)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the member's email")
	cmd.Flags().StringVar(&org, "org", "", "the organization's key or id, when the email is in several")
	if err := settingFlag(cmd, cfg, "public-url"); err != nil {
		panic(err) // a setting renamed without this command
	}
	// --base-url was this command's name for it.
	cmd.Flags().StringVar(&cfg.PublicURL, "base-url", cfg.PublicURL, "")
	_ = cmd.Flags().MarkDeprecated("base-url", "use --public-url")
	return cmd
}
