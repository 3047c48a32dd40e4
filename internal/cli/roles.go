package cli

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func rolesCmd(r *remote) *cobra.Command {
	var l listFlags
	var search string
	row := func(x client.Role) []string {
		return []string{x.Key, dash(x.Name), join(x.Permissions), join(x.Extends), day(x.CreatedAt)}
	}
	show := func(x *client.Role) error {
		return r.one(x, [][2]string{{"key", x.Key}, {"id", x.ID}, {"name", dash(x.Name)}, {"permissions", join(x.Permissions)},
			{"extends", join(x.Extends)}, {"description", dash(x.Description)}, {"attributes", jsonText(x.Attributes)}, {"created", day(x.CreatedAt)}})
	}
	list := &cobra.Command{Use: "list", Short: "List roles", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.Role], error) {
				return c.Roles.List(ctx, &client.FactListOptions{ListOptions: l.opts(p), Search: search})
			}, []string{"KEY", "NAME", "PERMISSIONS", "EXTENDS", "CREATED"}, row)
		})}
	l.add(list)
	list.Flags().StringVar(&search, "search", "", "part of the key or name")
	get := &cobra.Command{Use: "get ROLE", Short: "Show a role (key or id)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.Roles.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return show(x)
		})}
	var in client.RoleInput
	var kv []string
	create := &cobra.Command{Use: "create KEY", Short: "Create a role", Args: cobra.ExactArgs(1),
		Example: "  gatehouse roles create editor --permission document:read --permission document:write --attr tier=gold",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			var err error
			in.Key = a[0]
			if in.Attributes, err = attrs(kv); err != nil {
				return err
			}
			x, err := c.Roles.Create(ctx, in)
			if err != nil {
				return err
			}
			return show(x)
		})}
	create.Flags().StringVar(&in.Name, "name", "", "display name")
	create.Flags().StringVar(&in.Description, "description", "", "description")
	create.Flags().StringSliceVar(&in.Permissions, "permission", nil, "resource:action (repeat, or a,b)")
	create.Flags().StringSliceVar(&in.Extends, "extends", nil, "roles whose permissions it inherits")
	create.Flags().StringArrayVar(&kv, "attr", nil, "attribute key=value (repeat; JSON values kept): your metadata, not read by checks")
	perms := &cobra.Command{Use: "set-permissions ROLE [RESOURCE:ACTION...]", Short: "Replace a role's permissions (none: it grants nothing)",
		Args: cobra.MinimumNArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.Roles.SetPermissions(ctx, a[0], append([]string{}, a[1:]...))
			if err != nil {
				return err
			}
			return show(x)
		})}
	del := &cobra.Command{Use: "delete ROLE", Short: "Delete a role and its assignments", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.Roles.Delete(ctx, a[0]); err != nil {
				return err
			}
			deleted(r, "role", a[0])
			return nil
		})}
	return group(r, "roles", "Manage an environment's roles", envLong("roles"), list, get, create, perms, del)
}
