package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func webhooksCmd(r *remote) *cobra.Command {
	var l listFlags
	row := func(w client.Webhook) []string {
		return []string{w.ID, w.URL, join(w.Events), w.Status, when(w.LastSuccessAt), when(w.LastFailureAt)}
	}
	show := func(w *client.Webhook) error {
		fields := [][2]string{{"id", w.ID}, {"url", w.URL}, {"events", join(w.Events)}, {"status", w.Status},
			{"description", dash(w.Description)}, {"last success", when(w.LastSuccessAt)}, {"last failure", when(w.LastFailureAt)}}
		if w.DisabledReason != "" {
			fields = append(fields, [2]string{"disabled because", w.DisabledReason})
		}
		if err := r.one(w, fields); err != nil {
			return err
		}
		if w.Secret != "" && r.output == "table" {
			fmt.Fprintf(r.stdout, "\nsigning secret (shown once, store it now):\n%s\n", w.Secret)
		}
		return nil
	}
	list := &cobra.Command{Use: "list", Short: "List webhook endpoints", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.Webhook], error) {
				o := l.opts(p)
				return c.Webhooks.List(ctx, &o)
			}, []string{"ID", "URL", "EVENTS", "STATUS", "LAST SUCCESS", "LAST FAILURE"}, row)
		})}
	l.add(list)
	get := &cobra.Command{Use: "get ID", Short: "Show an endpoint", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			w, err := c.Webhooks.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return show(w)
		})}
	var in client.WebhookInput
	create := &cobra.Command{Use: "create URL", Short: "Add an endpoint (its signing secret is shown once)", Args: cobra.ExactArgs(1),
		Example: "  gatehouse webhooks create https://example.com/hooks --event user.created --event role_assignment.created",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			fc, _ := r.resolve()
			in.URL, in.Project, in.Environment = a[0], fc.Project, fc.Environment
			if len(in.Events) == 0 {
				return errors.New(`give --event (repeat), or --event '*' for all`)
			}
			w, err := c.Webhooks.Create(ctx, in)
			if err != nil {
				return err
			}
			return show(w)
		})}
	create.Flags().StringSliceVar(&in.Events, "event", nil, "event type (repeat), or * for all")
	create.Flags().StringVar(&in.Description, "description", "", "description")
	setEnabled := func(use string, on bool) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: strings.ToUpper(use[:1]) + use[1:] + " an endpoint", Args: cobra.ExactArgs(1),
			RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
				w, err := c.Webhooks.SetEnabled(ctx, a[0], on)
				if err != nil {
					return err
				}
				return show(w)
			})}
	}
	del := &cobra.Command{Use: "delete ID", Short: "Delete an endpoint", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.Webhooks.Delete(ctx, a[0]); err != nil {
				return err
			}
			deleted(r, "webhook", a[0])
			return nil
		})}
	deliveryRow := func(d client.Delivery) []string {
		code := "-"
		if d.LastStatusCode != 0 {
			code = strconv.Itoa(d.LastStatusCode)
		}
		return []string{d.ID, d.Event, d.Status, strconv.Itoa(d.Attempts), code, when(d.NextAttemptAt), day(d.CreatedAt)}
	}
	deliveryHeader := []string{"ID", "EVENT", "STATUS", "ATTEMPTS", "LAST CODE", "NEXT ATTEMPT", "CREATED"}
	test := &cobra.Command{Use: "test ID", Short: "Send a test event to an endpoint", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			d, err := c.Webhooks.Test(ctx, a[0])
			if err != nil {
				return err
			}
			return r.print(d, deliveryHeader, [][]string{deliveryRow(*d)})
		})}
	var dl listFlags
	var dstatus string
	deliveries := &cobra.Command{Use: "deliveries ID", Short: "List an endpoint's deliveries", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			return listing(r, &dl, func(p int) (*client.Page[client.Delivery], error) {
				o := dl.opts(p)
				return c.Webhooks.Deliveries(ctx, a[0], dstatus, &o)
			}, deliveryHeader, deliveryRow)
		})}
	dl.add(deliveries)
	deliveries.Flags().StringVar(&dstatus, "status", "", "pending, succeeded or failed")
	replay := &cobra.Command{Use: "replay ID DELIVERY", Short: "Send a delivery's event again", Args: cobra.ExactArgs(2),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			d, err := c.Webhooks.Replay(ctx, a[0], a[1])
			if err != nil {
				return err
			}
			return r.print(d, deliveryHeader, [][]string{deliveryRow(*d)})
		})}
	var grace time.Duration
	rotate := &cobra.Command{Use: "rotate-secret ID", Short: "Give an endpoint a new signing secret; the old one signs too for --grace", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			w, err := c.Webhooks.RotateSecret(ctx, a[0], grace)
			if err != nil {
				return err
			}
			return show(w)
		})}
	rotate.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long deliveries carry both signatures")
	return group(r, "webhooks", "Manage webhook endpoints and their deliveries", `Manage webhook endpoints and their deliveries. An endpoint made with --project and
--environment (or an environment key) receives only that environment's events.`,
		list, get, create, setEnabled("enable", true), setEnabled("disable", false), del, test, deliveries, replay, rotate)
}
