// Package cli is the gatehouse command line: the server's commands (serve,
// init, migrate, setup-link, pdp) and the commands that talk to a server
// with the Go SDK (users, tenants, resources, roles, assignments, check,
// keys, logs, webhooks, jobs, login).
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

// Run executes the command line args. OS access comes in as parameters so
// that tests can run the real program in-process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := config.Default()
	if err := cfg.ApplyEnv(getenv); err != nil {
		return err
	}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: a self-hosted, multi-tenant authorization and API platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := settingFlags(root, &cfg, true); err != nil {
		return err
	}
	serve := serveCmd(ctx, &cfg, stdout, stderr)
	if err := settingFlags(serve, &cfg, false); err != nil {
		return err
	}

	root.AddCommand(serve, initCmd(ctx, &cfg, stdout, stderr), migrateCmd(ctx, &cfg, stdout, stderr),
		pdpCmd(ctx, &cfg, getenv, stderr), setupLinkCmd(ctx, &cfg, stdout, stderr), versionCmd(stdout),
		secretKeyCmd(ctx, &cfg, stdout, stderr))
	root.AddCommand(remoteCmds(getenv, stdin, stdout, stderr)...)
	return root.ExecuteContext(ctx)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server",
		Long: `Run the API server. With no flags it listens on 127.0.0.1:8080 and keeps its data in an
embedded SQLite database under ./gatehouse-data. On an empty database it first creates an
organization and prints an organization API key holding every scope (shown once).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log := newLogger(*cfg, stderr)
			a, err := app.New(ctx, *cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			if cfg.AutoInit {
				res, err := a.Init(ctx, app.DefaultInitOptions())
				if err != nil {
					return fmt.Errorf("init: %w", err)
				}
				if res.Created {
					printInit(stdout, res, "text", "http://"+cfg.Addr)
				}
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			log.Info("gatehouse listening", "url", "http://"+ln.Addr().String(), "database", a.DB.Engine, "docs", "http://"+ln.Addr().String()+"/docs")
			return a.Serve(ctx, ln)
		},
	}
	return cmd
}

func initCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	opt := app.DefaultInitOptions()
	var output string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the first organization and print its API key (idempotent)",
		Long: `Create the first organization, its Admin member, a default project with development and
production environments, and an organization API key holding every scope. The key is printed
once and cannot be shown again. Running init again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			a, err := app.New(ctx, *cfg, newLogger(*cfg, stderr))
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.Init(ctx, opt)
			if err != nil {
				return err
			}
			printInit(stdout, res, output, "http://"+cfg.Addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.OrgName, "org-name", opt.OrgName, "organization name")
	cmd.Flags().StringVar(&opt.OrgKey, "org-key", "", "organization key (derived from the name when empty)")
	cmd.Flags().StringVar(&opt.AdminEmail, "admin-email", opt.AdminEmail, "email of the first Admin member")
	cmd.Flags().StringVar(&opt.AdminName, "admin-name", opt.AdminName, "name of the first Admin member")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// InitOutput is what `gatehouse init --output json` prints.
type InitOutput struct {
	Created          bool              `json:"created"`
	OrganizationID   string            `json:"organization_id"`
	OrganizationKey  string            `json:"organization_key"`
	AdminEmail       string            `json:"admin_email,omitempty"`
	ProjectKey       string            `json:"project_key,omitempty"`
	Environments     map[string]string `json:"environments,omitempty"`
	APIKeyID         string            `json:"api_key_id,omitempty"`
	APIKey           string            `json:"api_key,omitempty"`
	AdminSetupURL    string            `json:"admin_setup_url,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	AlreadyInitiated string            `json:"message,omitempty"`
}

func printInit(w io.Writer, res *app.InitResult, format, baseURL string) {
	out := InitOutput{Created: res.Created, OrganizationID: res.Organization.ID, OrganizationKey: res.Organization.Key}
	if res.Created {
		b := res.Bootstrap
		out.AdminSetupURL = baseURL + res.SetupPath
		out.AdminEmail, out.ProjectKey = b.Admin.Email, b.Project.Key
		out.Environments = map[string]string{}
		for _, e := range b.Environments {
			out.Environments[e.Key] = e.ID
		}
		out.APIKeyID, out.APIKey = res.Key.ID, res.Token
		for _, s := range res.Key.Scopes.Scopes() {
			out.Scopes = append(out.Scopes, string(s))
		}
	} else {
		out.AlreadyInitiated = "already initialized: nothing was created and no key can be shown again; create keys with POST /v1/api-keys"
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return
	}
	if !res.Created {
		fmt.Fprintf(w, "Gatehouse is already initialized (organization %s, id %s).\nNothing was created; an API key is shown only when it is created.\n", out.OrganizationKey, out.OrganizationID)
		return
	}
	fmt.Fprintf(w, `Gatehouse initialized.
  organization:  %s (id %s)
  admin member:  %s
  project:       %s, environments: development, production
  scopes:        %s

Organization API key (shown once, store it now):

%s

Try it:
  export GATEHOUSE_KEY='%s'
  curl -H "Authorization: Bearer $GATEHOUSE_KEY" -H "X-Organization-Id: %s" %s/v1/projects

Dashboard: the Admin (%s) chooses a password here, once, within 7 days:
  %s
then signs in at %s/
`, out.OrganizationKey, out.OrganizationID, out.AdminEmail, out.ProjectKey, strings.Join(out.Scopes, " "), out.APIKey, out.APIKey, out.OrganizationID, baseURL,
		out.AdminEmail, out.AdminSetupURL, baseURL)
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
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "gatehouse", app.Version) },
	}
}

func setupLinkCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	var email, org, base string
	cmd := &cobra.Command{
		Use:   "setup-link --email EMAIL",
		Short: "Make a one-time link with which a member chooses a dashboard password (a lost Admin password)",
		Long: `Make a one-time link with which the member with EMAIL chooses a dashboard password. It
works once, for 7 days. It runs on the server's database: on the embedded default, stop
gatehouse serve first (or let an Admin make the link in the dashboard, under Members).`,
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
			fmt.Fprintf(stdout, "Setup link for %s (once, within 7 days):\n  %s%s\n", m.Email, strings.TrimRight(base, "/"), path)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the member's email")
	cmd.Flags().StringVar(&org, "org", "", "the organization's key or id, when the email is in several")
	cmd.Flags().StringVar(&base, "base-url", "http://"+cfg.Addr, "the dashboard's address, for the printed link")
	return cmd
}
