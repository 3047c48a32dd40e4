package cli

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func userRow(u client.User) []string {
	return []string{u.Key, dash(u.Email), dash(strings.TrimSpace(u.FirstName + " " + u.LastName)), jsonText(u.Attributes), day(u.CreatedAt)}
}

func showUser(r *remote, u *client.User) error {
	return r.one(u, [][2]string{{"key", u.Key}, {"id", u.ID}, {"email", dash(u.Email)}, {"first name", dash(u.FirstName)},
		{"last name", dash(u.LastName)}, {"attributes", jsonText(u.Attributes)}, {"created", day(u.CreatedAt)}, {"updated", day(u.UpdatedAt)}})
}

func usersCmd(r *remote) *cobra.Command {
	var l listFlags
	var search, email string
	list := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.User], error) {
				return c.Users.List(ctx, &client.FactListOptions{ListOptions: l.opts(p), Search: search, Email: email})
			}, []string{"KEY", "EMAIL", "NAME", "ATTRIBUTES", "CREATED"}, userRow)
		})}
	l.add(list)
	list.Flags().StringVar(&search, "search", "", "part of the key or email")
	list.Flags().StringVar(&email, "email", "", "exact email")

	get := &cobra.Command{Use: "get USER", Short: "Show a user (key or id)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			u, err := c.Users.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return showUser(r, u)
		})}

	var in client.UserInput
	var kv []string
	create := &cobra.Command{Use: "create KEY", Short: "Create a user", Args: cobra.ExactArgs(1),
		Example: "  gatehouse users create alice --email alice@example.com --attr plan=pro --attr seats=5",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			var err error
			in.Key = a[0]
			if in.Attributes, err = attrs(kv); err != nil {
				return err
			}
			u, err := c.Users.Create(ctx, in)
			if err != nil {
				return err
			}
			return showUser(r, u)
		})}
	create.Flags().StringVar(&in.Email, "email", "", "email")
	create.Flags().StringVar(&in.FirstName, "first-name", "", "first name")
	create.Flags().StringVar(&in.LastName, "last-name", "", "last name")
	create.Flags().StringArrayVar(&kv, "attr", nil, "attribute key=value (repeat; JSON values kept)")

	var upEmail, upFirst, upLast string
	var upKV []string
	update := &cobra.Command{Use: "update USER", Short: "Change a user's email, names or attributes (attributes are replaced)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			var p client.UserPatch
			flags := map[string]*string{"email": &upEmail, "first-name": &upFirst, "last-name": &upLast}
			for name, v := range flags {
				if cmdFlagChanged(r, name) {
					v := *v
					switch name {
					case "email":
						p.Email = &v
					case "first-name":
						p.FirstName = &v
					case "last-name":
						p.LastName = &v
					}
				}
			}
			if len(upKV) > 0 {
				m, err := attrs(upKV)
				if err != nil {
					return err
				}
				p.Attributes = &m
			}
			u, err := c.Users.Update(ctx, a[0], p)
			if err != nil {
				return err
			}
			return showUser(r, u)
		})}
	update.Flags().StringVar(&upEmail, "email", "", "email")
	update.Flags().StringVar(&upFirst, "first-name", "", "first name")
	update.Flags().StringVar(&upLast, "last-name", "", "last name")
	update.Flags().StringArrayVar(&upKV, "attr", nil, "attribute key=value (repeat): the new attributes")

	del := &cobra.Command{Use: "delete USER", Short: "Delete a user and its role assignments", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.Users.Delete(ctx, a[0]); err != nil {
				return err
			}
			deleted(r, "user", a[0])
			return nil
		})}
	return group(r, "users", "Manage an environment's users", envLong("users"), list, get, create, update, del)
}
