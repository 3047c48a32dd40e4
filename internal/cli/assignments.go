package cli

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func assignmentsCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.AssignmentFilter
	list := &cobra.Command{Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.RoleAssignment], error) {
				g := f
				g.ListOptions = l.opts(p)
				return c.RoleAssignments.List(ctx, &g)
			}, []string{"USER", "ROLE", "TENANT", "CREATED"}, func(a client.RoleAssignment) []string {
				return []string{a.User, a.Role, a.Tenant, day(a.CreatedAt)}
			})
		})}
	l.add(list)
	list.Flags().StringVar(&f.User, "user", "", "only this user")
	list.Flags().StringVar(&f.Role, "role", "", "only this role")
	list.Flags().StringVar(&f.Tenant, "tenant", "", "only this tenant")
	var tenant, untenant string
	assign := &cobra.Command{Use: "assign USER ROLE", Short: "Give a user a role in a tenant", Args: cobra.ExactArgs(2),
		Example: "  gatehouse assignments assign alice editor --tenant acme",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.RoleAssignments.Assign(ctx, a[0], a[1], tenant)
			if err != nil {
				return err
			}
			return r.one(x, [][2]string{{"user", x.User}, {"role", x.Role}, {"tenant", x.Tenant}, {"id", x.ID}})
		})}
	assign.Flags().StringVar(&tenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	unassign := &cobra.Command{Use: "unassign USER ROLE", Short: "Take a role from a user in a tenant", Args: cobra.ExactArgs(2),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.RoleAssignments.Unassign(ctx, a[0], a[1], untenant); err != nil {
				return err
			}
			if r.output == "json" {
				return r.print(map[string]any{"unassigned": true, "user": a[0], "role": a[1], "tenant": untenant}, nil, nil)
			}
			fmt.Fprintf(r.stdout, "unassigned %s from %s\n", a[1], a[0])
			return nil
		})}
	unassign.Flags().StringVar(&untenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	return group(r, "assignments", "Manage an environment's role assignments", envLong("role assignments"), list, assign, unassign)
}
