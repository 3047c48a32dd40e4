package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func keyRow(k client.APIKey) []string {
	scope := k.Level
	if k.EnvironmentID != "" {
		scope += " " + k.EnvironmentID
	} else if k.ProjectID != "" {
		scope += " " + k.ProjectID
	}
	return []string{k.ID, k.Name, scope, k.Status, strconv.Itoa(len(k.Scopes)), when(k.LastUsedAt), when(k.ExpiresAt)}
}

func keysCmd(r *remote) *cobra.Command {
	var l listFlags
	var level, status string
	list := &cobra.Command{Use: "list", Short: "List API keys (never their tokens)", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.APIKey], error) {
				return c.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: l.opts(p), Level: level, Status: status})
			}, []string{"ID", "NAME", "LEVEL", "STATUS", "SCOPES", "LAST USED", "EXPIRES"}, keyRow)
		})}
	l.add(list)
	list.Flags().StringVar(&level, "level", "", "organization, project or environment")
	list.Flags().StringVar(&status, "status", "", "active, revoked or expired")
	showKey := func(k *client.APIKey) [][2]string {
		return [][2]string{{"id", k.ID}, {"name", k.Name}, {"level", k.Level}, {"project", dash(k.ProjectID)}, {"environment", dash(k.EnvironmentID)},
			{"scopes", join(k.Scopes)}, {"status", k.Status}, {"expires", when(k.ExpiresAt)}, {"last used", when(k.LastUsedAt)}}
	}
	get := &cobra.Command{Use: "get ID", Short: "Show an API key", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(k, showKey(k))
		})}
	var in client.APIKeyInput
	var expiresIn time.Duration
	created := func(k *client.CreatedAPIKey) error {
		if r.output == "json" {
			return r.print(k, nil, nil)
		}
		if err := r.one(k, showKey(&k.APIKey)); err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "\ntoken (shown once, store it now):\n%s\n", k.Token)
		return nil
	}
	create := &cobra.Command{Use: "create [NAME]", Short: "Create an API key (its token is shown once)", Args: cobra.MaximumNArgs(1),
		Example: `  gatehouse keys create backend --level environment --project default --environment production \
    --scope check:access --scope view:user`,
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if len(a) == 1 {
				if in.Name != "" && in.Name != a[0] {
					return fmt.Errorf("two names: %q and --name %q; give one", a[0], in.Name)
				}
				in.Name = a[0]
			}
			fc, _ := r.resolve()
			in.Project, in.Environment = fc.Project, fc.Environment
			if in.Level == "" {
				switch {
				case in.Environment != "":
					in.Level = "environment"
				case in.Project != "":
					in.Level = "project"
				default:
					in.Level = "organization"
				}
			}
			if expiresIn > 0 {
				t := time.Now().Add(expiresIn).UTC()
				in.ExpiresAt = &t
			}
			k, err := c.APIKeys.Create(ctx, in)
			if err != nil {
				return err
			}
			return created(k)
		})}
	cf := create.Flags()
	cf.StringVar(&in.Name, "name", "", "name (or give it as the argument)")
	cf.StringVar(&in.Level, "level", "", "organization, project or environment (default: from --project/--environment)")
	cf.StringSliceVar(&in.Scopes, "scope", nil, "scope (repeat, or a,b); gatehouse keys scopes lists them")
	cf.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h (default: never expires)")
	cf.IntVar(&in.RateLimit, "rate-limit", 0, "calls per hour (default: the organization's)")
	scopes := &cobra.Command{Use: "scopes", Short: "List the scopes a key can hold", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			s, err := c.System.Scopes(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, len(s))
			for i, x := range s {
				rows[i] = scopeRow(x)
			}
			return r.print(s, []string{"SCOPE", "DESCRIPTION"}, rows)
		})}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an API key now", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Revoke(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(k, showKey(k))
		})}
	var grace time.Duration
	rotate := &cobra.Command{Use: "rotate ID", Short: "Replace an API key by a new one; the old works for --grace", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Rotate(ctx, a[0], grace)
			if err != nil {
				return err
			}
			return created(k)
		})}
	rotate.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the old key keeps working")
	me := &cobra.Command{Use: "whoami", Short: "Show the key in use: its level, scopes and where it reaches", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			m, err := c.System.Me(ctx)
			if err != nil {
				return err
			}
			return r.one(m, [][2]string{{"key", m.KeyName}, {"id", m.KeyID}, {"level", m.Level}, {"organization", m.OrganizationID},
				{"project", dash(m.ProjectID)}, {"environment", dash(m.EnvironmentID)}, {"scopes", join(m.Scopes)}, {"expires", when(m.ExpiresAt)}})
		})}
	return group(r, "keys", "Manage API keys", "", list, get, create, revoke, rotate, scopes, me)
}

func scopeRow(s client.Scope) []string {
	d := s.Description
	if s.AdminOnly {
		d += " (Admin members only)"
	}
	return []string{s.Name, d}
}
