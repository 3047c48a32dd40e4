package cli

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func resourcesCmd(r *remote) *cobra.Command {
	var l listFlags
	var search, typ, status string
	row := func(x client.Resource) []string {
		return []string{x.Key, dash(x.Name), dash(x.Type), dash(x.Status), join(x.Actions), day(x.CreatedAt)}
	}
	show := func(x *client.Resource) error {
		return r.one(x, [][2]string{{"key", x.Key}, {"id", x.ID}, {"name", dash(x.Name)}, {"type", dash(x.Type)}, {"status", dash(x.Status)},
			{"actions", join(x.Actions)}, {"config", jsonText(x.Config)}, {"description", dash(x.Description)}, {"created", day(x.CreatedAt)}})
	}
	list := &cobra.Command{Use: "list", Short: "List resources (the types checks name)", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.Resource], error) {
				return c.Resources.List(ctx, &client.FactListOptions{ListOptions: l.opts(p), Search: search, Type: typ, Status: status})
			}, []string{"KEY", "NAME", "TYPE", "STATUS", "ACTIONS", "CREATED"}, row)
		})}
	l.add(list)
	list.Flags().StringVar(&search, "search", "", "part of the key or name")
	list.Flags().StringVar(&typ, "type", "", "only this type")
	list.Flags().StringVar(&status, "status", "", "only this status (active, archived)")
	get := &cobra.Command{Use: "get RESOURCE", Short: "Show a resource (key or id)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.Resources.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return show(x)
		})}
	var in client.ResourceInput
	var cfg []string
	create := &cobra.Command{Use: "create", Short: "Create a resource", Args: cobra.NoArgs,
		Example: `  gatehouse resources create --key document --name Document --action read --action write
  gatehouse resources create --name "Production Server" --type server --config region=us-east-1`,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			var err error
			if in.Config, err = attrs(cfg); err != nil {
				return err
			}
			if in.Key == "" && in.Name == "" {
				return errors.New("give --key or --name")
			}
			x, err := c.Resources.Create(ctx, in)
			if err != nil {
				return err
			}
			return show(x)
		})}
	cf := create.Flags()
	cf.StringVar(&in.Key, "key", "", "key checks name (from --name when empty)")
	cf.StringVar(&in.Name, "name", "", "display name")
	cf.StringVar(&in.Description, "description", "", "description")
	cf.StringVar(&in.Type, "type", "", "a type of your own (server, database, ...)")
	cf.StringSliceVar(&in.Actions, "action", nil, "action (repeat, or a,b)")
	cf.StringArrayVar(&cfg, "config", nil, "config key=value (repeat)")

	var upName, upDesc, upStatus, upType string
	var upActions, upCfg []string
	update := &cobra.Command{Use: "update RESOURCE", Short: "Change a resource (only the flags given)", Args: cobra.ExactArgs(1),
		Example: "  gatehouse resources update production-server --status archived",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			patch := map[string]any{}
			for name, v := range map[string]string{"name": upName, "description": upDesc, "status": upStatus, "type": upType} {
				if cmdFlagChanged(r, name) {
					patch[name] = v
				}
			}
			if cmdFlagChanged(r, "action") {
				patch["actions"] = upActions
			}
			if len(upCfg) > 0 {
				m, err := attrs(upCfg)
				if err != nil {
					return err
				}
				patch["config"] = m
			}
			if len(patch) == 0 {
				return errors.New("nothing to change: give --name, --description, --status, --type, --action or --config")
			}
			x, err := c.Resources.Update(ctx, a[0], patch)
			if err != nil {
				return err
			}
			return show(x)
		})}
	uf := update.Flags()
	uf.StringVar(&upName, "name", "", "display name")
	uf.StringVar(&upDesc, "description", "", "description")
	uf.StringVar(&upStatus, "status", "", "active or archived")
	uf.StringVar(&upType, "type", "", "type")
	uf.StringSliceVar(&upActions, "action", nil, "the actions (replaces them)")
	uf.StringArrayVar(&upCfg, "config", nil, "config key=value (replaces the config)")
	del := &cobra.Command{Use: "delete RESOURCE", Short: "Delete a resource", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.Resources.Delete(ctx, a[0]); err != nil {
				return err
			}
			deleted(r, "resource", a[0])
			return nil
		})}
	return group(r, "resources", "Manage an environment's resources", envLong("resources"), list, get, create, update, del)
}
