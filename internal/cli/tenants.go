package cli

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func tenantsCmd(r *remote) *cobra.Command {
	var l listFlags
	var search string
	row := func(t client.Tenant) []string {
		return []string{t.Key, dash(t.Name), dash(t.Description), jsonText(t.Attributes), day(t.CreatedAt)}
	}
	show := func(t *client.Tenant) error {
		return r.one(t, [][2]string{{"key", t.Key}, {"id", t.ID}, {"name", dash(t.Name)}, {"description", dash(t.Description)},
			{"attributes", jsonText(t.Attributes)}, {"created", day(t.CreatedAt)}})
	}
	list := &cobra.Command{Use: "list", Short: "List tenants", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.Tenant], error) {
				return c.Tenants.List(ctx, &client.FactListOptions{ListOptions: l.opts(p), Search: search})
			}, []string{"KEY", "NAME", "DESCRIPTION", "ATTRIBUTES", "CREATED"}, row)
		})}
	l.add(list)
	list.Flags().StringVar(&search, "search", "", "part of the key or name")
	get := &cobra.Command{Use: "get TENANT", Short: "Show a tenant (key or id)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			t, err := c.Tenants.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return show(t)
		})}
	var in client.TenantInput
	var kv []string
	create := &cobra.Command{Use: "create KEY", Short: "Create a tenant", Args: cobra.ExactArgs(1),
		Example: `  gatehouse tenants create acme --name "Acme Inc."`,
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			var err error
			in.Key = a[0]
			if in.Attributes, err = attrs(kv); err != nil {
				return err
			}
			t, err := c.Tenants.Create(ctx, in)
			if err != nil {
				return err
			}
			return show(t)
		})}
	create.Flags().StringVar(&in.Name, "name", "", "display name")
	create.Flags().StringVar(&in.Description, "description", "", "description")
	create.Flags().StringArrayVar(&kv, "attr", nil, "attribute key=value (repeat)")
	del := &cobra.Command{Use: "delete TENANT", Short: "Delete a tenant and its role assignments", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.Tenants.Delete(ctx, a[0]); err != nil {
				return err
			}
			deleted(r, "tenant", a[0])
			return nil
		})}
	return group(r, "tenants", "Manage an environment's tenants", envLong("tenants"), list, get, create, del)
}
