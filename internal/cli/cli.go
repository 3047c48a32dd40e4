// Package cli is the gatehouse command line: the server's commands (serve,
// init, migrate, setup-link, pdp) and the commands that talk to a server
// with the Go SDK (users, tenants, resources, roles, assignments, check,
// keys, logs, webhooks, jobs, login). Each command is in the file of its name;
// commands.go holds what the remote ones share (listing, printing), remote.go
// their connection, flags.go the flags derived from config.Settings.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/logging"
	"github.com/gatehouse-dev/gatehouse/internal/pdpcmd"
	"github.com/spf13/cobra"
)

// Run executes the command line args. OS access comes in as parameters so
// that tests can run the real program in-process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	root, err := newRoot(ctx, getenv, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree.
func newRoot(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (*cobra.Command, error) {
	cfg := config.Default()
	if err := cfg.ApplyEnv(getenv); err != nil {
		return nil, err
	}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: a self-hosted, multi-tenant authorization and API platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A --config file fills in what neither the command line nor the
	// environment set, once the flags are parsed.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return applyConfigFile(cmd, &cfg, getenv, stderr)
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	serve := serveCmd(ctx, &cfg, stdout, stderr)
	if err := settingFlags(serve, &cfg, false); err != nil {
		return nil, err
	}
	secretKey, rotate := secretKeyCmd(ctx, &cfg, stdout, stderr)
	// The commands that open the server's database take its settings and
	// the logging ones; the commands that talk to a server show neither.
	for _, cmd := range []*cobra.Command{serve, initCmd(ctx, &cfg, stdout, stderr), migrateCmd(ctx, &cfg, stdout, stderr),
		setupLinkCmd(ctx, &cfg, stdout, stderr), backupCmd(ctx, &cfg, stdout), rotate} {
		if err := settingFlags(cmd, &cfg, true); err != nil {
			return nil, err
		}
		if cmd != rotate {
			root.AddCommand(cmd)
		}
	}
	// The PDP's command is gatehouse-pdp's too: it takes its --config,
	// --log-level and --log-format itself, and applies its file itself.
	root.AddCommand(pdpcmd.Command(ctx, "gatehouse pdp", getenv, stderr), secretKey, versionCmd(stdout))
	root.AddCommand(remoteCmds(getenv, stdin, stdout, stderr)...)
	return root, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	return logging.New(cfg.LogLevel, cfg.LogFormat, w)
}

func migrateCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date (serve and init also do this)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			a, err := app.New(ctx, *cfg, newLogger(*cfg, stderr))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s database is up to date\n", a.DB.Engine)
			return a.Close()
		},
	}
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from, and when",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "gatehouse", buildinfo.Get()) },
	}
}
