package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func logsCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.LogFilter
	var since string
	list := &cobra.Command{Use: "list", Short: "List API calls, newest first", Args: cobra.NoArgs,
		Example: "  gatehouse logs list --status 4xx --since 1h",
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				f.Since = t
			}
			return listing(r, &l, func(p int) (*client.Page[client.Call], error) {
				g := f
				g.ListOptions = l.opts(p)
				return c.Logs.List(ctx, &g)
			}, []string{"TIME", "METHOD", "PATH", "STATUS", "µs", "ACTOR", "ID"}, func(x client.Call) []string {
				return []string{x.Time.Local().Format("2006-01-02 15:04:05"), x.Method, x.Path, strconv.Itoa(x.Status),
					strconv.FormatInt(x.LatencyMicros, 10), dash(x.ActorName), x.ID}
			})
		})}
	l.add(list)
	lf := list.Flags()
	lf.StringVar(&f.Status, "status", "", "status, e.g. 404 or 4xx")
	lf.StringVar(&f.Method, "method", "", "method")
	lf.StringVar(&f.Path, "path", "", "path prefix")
	lf.StringVar(&f.Actor, "actor", "", "API key id")
	lf.StringVar(&f.RequestID, "request-id", "", "request id (X-Request-Id)")
	lf.StringVar(&since, "since", "", "a duration (1h) or a time (RFC 3339)")
	get := &cobra.Command{Use: "get ID", Short: "Show one call with its headers and bodies", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.Logs.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(x, [][2]string{{"time", x.Time.Local().Format(time.RFC3339Nano)}, {"request", x.Method + " " + x.Path},
				{"status", strconv.Itoa(x.Status) + " " + x.ErrorCode}, {"latency", strconv.FormatInt(x.LatencyMicros, 10) + "µs"},
				{"actor", dash(x.ActorName)}, {"request id", x.RequestID}, {"request body", dash(x.RequestBody)}, {"response body", dash(x.ResponseBody)}})
		})}
	return group(r, "logs", "Read the API request log", "", list, get)
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--since %q: want a duration (1h) or an RFC 3339 time", s)
	}
	return t, nil
}
