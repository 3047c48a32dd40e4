package cli

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func auditCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.AuditFilter
	var since string
	list := &cobra.Command{Use: "list", Short: "List the audit trail, newest first (-o json: each change with its object before and after)", Args: cobra.NoArgs,
		Example: "  gatehouse audit list --action user.updated --since 24h\n  gatehouse audit list --object-id <id> --all -o json > history.json",
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				f.Since = t
			}
			return listing(r, &l, func(p int) (*client.Page[client.AuditEntry], error) {
				g := f
				g.ListOptions = l.opts(p)
				return c.Audit.List(ctx, &g)
			}, []string{"TIME", "ACTION", "OBJECT", "ACTOR", "FROM", "ID"}, func(x client.AuditEntry) []string {
				obj := x.ObjectKey
				if obj == "" {
					obj = x.ObjectID
				}
				return []string{x.Time.Local().Format("2006-01-02 15:04:05"), x.Action, dash(obj), x.ActorType + " " + dash(x.ActorName), dash(x.ClientIP), x.ID}
			})
		})}
	l.add(list)
	lf := list.Flags()
	lf.StringVar(&f.Action, "action", "", "an action (user.updated) or every action on a kind of object (user.)")
	lf.StringVar(&f.ObjectType, "object-type", "", "kind of object: user, role, api_key, member, webhook…")
	lf.StringVar(&f.ObjectID, "object-id", "", "one object's history (its id)")
	lf.StringVar(&f.ActorType, "actor-type", "", "member, key or system")
	lf.StringVar(&f.Actor, "actor", "", "a member's or API key's id")
	lf.StringVar(&since, "since", "", "a duration (1h) or a time (RFC 3339)")
	get := &cobra.Command{Use: "get ID", Short: "Show one change with its object before and after", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.Audit.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(x, [][2]string{{"time", x.Time.Local().Format(time.RFC3339Nano)}, {"action", x.Action},
				{"object", x.ObjectType + " " + dash(x.ObjectKey) + " " + x.ObjectID}, {"actor", x.ActorType + " " + dash(x.ActorName) + " " + x.ActorID},
				{"from", dash(x.ClientIP)}, {"request id", dash(x.RequestID)}, {"before", dash(string(x.Before))}, {"after", dash(string(x.After))}})
		})}
	return group(r, "audit", "Read the audit trail: who changed what, when, from where", "", list, get)
}
