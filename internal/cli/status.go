package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

// runPublic is run for a call that needs no key (the status page): the key,
// when there is one, is sent all the same.
func (r *remote) runPublic(fn func(ctx context.Context, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r.cmd = cmd
		fc, err := r.resolve()
		if err != nil {
			return err
		}
		c := client.New(fc.APIURL, fc.Key, client.WithUserAgent("gatehouse-cli"))
		if err := fn(cmd.Context(), c, args); err != nil {
			return r.explain(err)
		}
		return nil
	}
}

func percent(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", *v*100)
}

func incidentRow(in client.Incident) []string {
	return []string{in.ID, in.Status, in.Impact, strings.Join(in.Components, ","), day(in.CreatedAt), when(in.ResolvedAt), in.Title}
}

var incidentHeader = []string{"ID", "STATUS", "IMPACT", "COMPONENTS", "CREATED", "RESOLVED", "TITLE"}

func statusCmd(r *remote) *cobra.Command {
	showIncident := func(in *client.Incident) error {
		fields := [][2]string{{"id", in.ID}, {"title", in.Title}, {"status", in.Status}, {"impact", in.Impact},
			{"components", strings.Join(in.Components, ", ")}, {"created", day(in.CreatedAt)}, {"resolved", when(in.ResolvedAt)}}
		if err := r.one(in, fields); err != nil {
			return err
		}
		if r.output == "table" {
			fmt.Fprintln(r.stdout, "\nupdates:")
			for _, u := range in.Updates {
				fmt.Fprintf(r.stdout, "  %s  %-13s  %s\n", day(u.CreatedAt), u.Status, termSafe(u.Body))
			}
		}
		return nil
	}
	var l struct {
		page, perPage int
		state         string
	}
	list := &cobra.Command{Use: "list", Short: "List incidents, newest first (no key needed)", Args: cobra.NoArgs,
		RunE: r.runPublic(func(ctx context.Context, c *client.Client, _ []string) error {
			p, err := c.Status.Incidents(ctx, &client.IncidentFilter{Page: l.page, PerPage: l.perPage, State: l.state})
			if err != nil {
				return err
			}
			rows := make([][]string, len(p.Items))
			for i, in := range p.Items {
				rows[i] = incidentRow(in)
			}
			if err := r.print(p.Items, incidentHeader, rows); err != nil {
				return err
			}
			r.footer(p.Meta)
			return nil
		})}
	list.Flags().IntVar(&l.page, "page", 1, "page to show")
	list.Flags().IntVar(&l.perPage, "per-page", 20, "items per page (at most 100)")
	list.Flags().StringVar(&l.state, "state", "", "open or resolved (default: both)")

	get := &cobra.Command{Use: "get ID", Short: "Show an incident with its updates (no key needed)", Args: cobra.ExactArgs(1),
		RunE: r.runPublic(func(ctx context.Context, c *client.Client, a []string) error {
			in, err := c.Status.Incident(ctx, a[0])
			if err != nil {
				return err
			}
			return showIncident(in)
		})}

	var in client.IncidentInput
	create := &cobra.Command{Use: "create", Short: "Open an incident (the instance operator's key)", Args: cobra.NoArgs,
		Example: `  gatehouse status incidents create --title "Slow checks" --body "We are looking into it." --impact minor --component checks`,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			created, err := c.Status.CreateIncident(ctx, in)
			if err != nil {
				return err
			}
			return showIncident(created)
		})}
	create.Flags().StringVar(&in.Title, "title", "", "what is wrong, in a line (required)")
	create.Flags().StringVar(&in.Body, "body", "", "the first message (required)")
	create.Flags().StringVar(&in.Impact, "impact", "", "none, minor (default), major or critical")
	create.Flags().StringVar(&in.Status, "status", "", "investigating (default), identified or monitoring")
	create.Flags().StringSliceVar(&in.Components, "component", nil, "a component affected: api, checks, database, redis, queue or webhooks (repeat or comma-separate)")

	var up client.IncidentUpdateInput
	var upComps []string
	update := &cobra.Command{Use: "update ID", Short: "Post an update on an open incident (the instance operator's key)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if r.cmd.Flags().Changed("component") {
				up.Components = &upComps
			}
			got, err := c.Status.PostUpdate(ctx, a[0], up)
			if err != nil {
				return err
			}
			return showIncident(got)
		})}
	update.Flags().StringVar(&up.Body, "body", "", "the message (required)")
	update.Flags().StringVar(&up.Status, "status", "", "investigating, identified, monitoring or resolved (default: unchanged)")
	update.Flags().StringVar(&up.Impact, "impact", "", "none, minor, major or critical (default: unchanged)")
	update.Flags().StringSliceVar(&upComps, "component", nil, "replaces the components affected (repeat or comma-separate)")

	var closing string
	resolve := &cobra.Command{Use: "resolve ID", Short: "Resolve an incident (the instance operator's key)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			got, err := c.Status.Resolve(ctx, a[0], closing)
			if err != nil {
				return err
			}
			return showIncident(got)
		})}
	resolve.Flags().StringVar(&closing, "body", "", "the closing message (default: a standard one)")

	incidents := &cobra.Command{Use: "incidents", Short: "List, open, update and resolve the status page's incidents", Args: cobra.NoArgs}
	incidents.AddCommand(list, get, create, update, resolve)

	cmd := &cobra.Command{Use: "status", Short: "Show the server's status page: components, 90-day uptime, open incidents (no key needed)",
		Long: `Show the server's status page (the same as /status and GET /v1/status): each component's state,
its uptime over 90 days and the open incidents. No key is needed to read it.

Incidents are posted by the instance operator: an organization-level key, holding
manage:organization, of the instance's first organization (the one ` + "`gatehouse init`" + ` made).`,
		Args: cobra.NoArgs,
		RunE: r.runPublic(func(ctx context.Context, c *client.Client, _ []string) error {
			p, err := c.Status.Get(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, len(p.Components))
			for i, s := range p.Components {
				rows[i] = []string{s.Name, s.State, percent(s.Uptime), day(s.Since), s.Note}
			}
			if err := r.print(p, []string{"COMPONENT", "STATE", "UPTIME 90D", "SINCE", "NOTE"}, rows); err != nil {
				return err
			}
			if r.output == "table" {
				fmt.Fprintf(r.stdout, "\noverall: %s\n", p.State)
				if len(p.Open) == 0 {
					fmt.Fprintln(r.stdout, "no open incidents")
				}
				for _, in := range p.Open {
					fmt.Fprintf(r.stdout, "open incident %s (%s, %s): %s\n", in.ID, in.Status, in.Impact, termSafe(in.Title))
				}
			}
			if len(p.Components) == 0 {
				return errors.New("the server has not sampled its components yet: try again in a minute")
			}
			return nil
		})}
	r.flags(cmd)
	cmd.AddCommand(incidents)
	return cmd
}
