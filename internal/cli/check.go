package cli

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func checkCmd(r *remote) *cobra.Command {
	var tenant string
	var permissions bool
	cmd := &cobra.Command{
		Use:   "check USER ACTION RESOURCE[:KEY]",
		Short: "Ask whether a user may do an action on a resource (exit status 0 allow, 3 deny)",
		Long: `Ask whether USER may do ACTION on a resource of type RESOURCE (optionally one instance,
RESOURCE:KEY) in a tenant. Prints the decision and why; the exit status is 0 when allowed,
3 when denied and 1 on an error, so scripts can write: if gatehouse check alice read document; then ...
With --permissions (and only USER), lists what the user may do in each tenant.`,
		Example: `  gatehouse check alice read document --tenant acme
  gatehouse check alice --permissions`,
		Args: func(cmd *cobra.Command, args []string) error {
			if permissions {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if permissions {
				var tenants []string
				if tenant != "" {
					tenants = []string{tenant}
				}
				tp, err := c.Checks.UserPermissions(ctx, a[0], tenants...)
				if err != nil {
					return err
				}
				rows := make([][]string, len(tp))
				for i, t := range tp {
					rows[i] = []string{t.Tenant, join(t.Roles), join(t.Permissions)}
				}
				return r.print(tp, []string{"TENANT", "ROLES", "PERMISSIONS"}, rows)
			}
			typ, key, _ := strings.Cut(a[2], ":")
			d, err := c.Checks.Allowed(ctx, client.Check{User: a[0], Action: a[1], Resource: client.CheckResource{Type: typ, Key: key, Tenant: tenant}})
			if err != nil {
				return err
			}
			verdict := "DENY"
			if d.Allow {
				verdict = "ALLOW"
			}
			if err := r.print(d, nil, [][]string{{verdict, d.Explanation}}); err != nil {
				return err
			}
			if !d.Allow {
				return ExitError{Code: DeniedExitCode}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	cmd.Flags().BoolVar(&permissions, "permissions", false, "list the user's permissions per tenant instead")
	r.flags(cmd)
	return cmd
}
