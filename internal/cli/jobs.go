package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

func jobRow(j client.Job) []string {
	return []string{j.ID, j.Type, j.Status, fmt.Sprintf("%.0f%%", j.Progress.Percent),
		fmt.Sprintf("%d/%d", j.Progress.DoneItems+j.Progress.FailedItems, j.Progress.TotalItems), day(j.CreatedAt), when(j.FinishedAt)}
}

func jobsCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.JobFilter
	jobHeader := []string{"ID", "TYPE", "STATUS", "PROGRESS", "ITEMS", "CREATED", "FINISHED"}
	list := &cobra.Command{Use: "list", Short: "List jobs, newest first (--sort created_at: oldest first)", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			newestFirst := !r.cmd.Flags().Changed("sort") && !r.cmd.Flags().Changed("desc")
			return listing(r, &l, func(p int) (*client.Page[client.Job], error) {
				g := f
				g.ListOptions = l.opts(p)
				if newestFirst {
					g.Sort, g.Desc = "created_at", true
				}
				return c.Jobs.List(ctx, &g)
			}, jobHeader, jobRow)
		})}
	l.add(list)
	list.Flags().StringVar(&f.Status, "status", "", "queued, running, succeeded, failed or cancelled")
	list.Flags().StringVar(&f.Type, "type", "", "import, export, environment_copy or sandbox_reset")
	showJob := func(j *client.Job) error {
		fields := [][2]string{{"id", j.ID}, {"type", j.Type}, {"status", j.Status},
			{"progress", fmt.Sprintf("%.0f%% (%d done, %d failed of %d)", j.Progress.Percent, j.Progress.DoneItems, j.Progress.FailedItems, j.Progress.TotalItems)},
			{"result", fmt.Sprintf("%d created, %d updated, %d unchanged, %d errors", j.Result.Created, j.Result.Updated, j.Result.Unchanged, j.Result.ErrorCount)},
			{"created", day(j.CreatedAt)}, {"finished", when(j.FinishedAt)}}
		if j.Error != "" {
			fields = append(fields, [2]string{"error", j.Error})
		}
		if err := r.one(j, fields); err != nil {
			return err
		}
		if r.output == "table" {
			for i, e := range j.Result.Errors {
				if i == 0 {
					fmt.Fprintln(r.stdout, "\nrow errors:")
				}
				fmt.Fprintf(r.stdout, "  line %d: %s\n", e.Line, termSafe(e.Message))
			}
		}
		return nil
	}
	// finish waits for a job (unless detached) and reports how it ended.
	var detach bool
	finish := func(ctx context.Context, c *client.Client, j *client.Job) error {
		if detach {
			return showJob(j)
		}
		j, err := c.Jobs.Wait(ctx, j.ID, 0, r.progress())
		if err != nil {
			return err
		}
		if err := showJob(j); err != nil {
			return err
		}
		if j.Status != "succeeded" {
			return fmt.Errorf("job %s %s: see `gatehouse jobs tasks %s`", j.ID, j.Status, j.ID)
		}
		return nil
	}
	get := &cobra.Command{Use: "get ID", Short: "Show a job", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			j, err := c.Jobs.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return showJob(j)
		})}
	var opt client.ImportOptions
	imp := &cobra.Command{Use: "import FILE", Short: "Import users, tenants and role assignments from JSON Lines or CSV (- is stdin)",
		Long: `Import users, tenants, resources, roles and role assignments from a JSON Lines file (one
{"type": "user", ...} per line) or a CSV file of one --type. Every row is checked first: a bad
file is refused with its line numbers and nothing changes. Then the rows are applied in batches
and a progress bar follows the job; --detach returns at once.`,
		Example: `  gatehouse jobs import users.jsonl
  gatehouse jobs import people.csv --type users`,
		Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			var in io.Reader = r.stdinOrNil()
			if a[0] != "-" {
				fh, err := os.Open(a[0])
				if err != nil {
					return err
				}
				defer fh.Close()
				in = fh
				if opt.Format == "" && strings.EqualFold(filepath.Ext(a[0]), ".csv") {
					opt.Format = "csv"
				}
			}
			j, err := c.Jobs.Import(ctx, in, opt)
			if err != nil {
				return err
			}
			return finish(ctx, c, j)
		})}
	imf := imp.Flags()
	imf.StringVar(&opt.Format, "format", "", "jsonl or csv (default: from the file name, else jsonl)")
	imf.StringVar(&opt.Type, "type", "", "the rows' type for CSV: users, tenants or role_assignments")
	imf.IntVar(&opt.BatchSize, "batch-size", 0, "rows per task (default 5000)")
	imf.BoolVar(&opt.Events, "events", false, "send a webhook event per changed item")
	imf.BoolVar(&detach, "detach", false, "return once the job is queued")
	var out string
	exp := &cobra.Command{Use: "export", Short: "Export the environment as JSON Lines (to --out, default stdout)", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			j, err := c.Jobs.Export(ctx)
			if err != nil {
				return err
			}
			j, err = c.Jobs.Wait(ctx, j.ID, 0, r.progress())
			if err != nil {
				return err
			}
			if j.Status != "succeeded" {
				return fmt.Errorf("export %s %s: %s", j.ID, j.Status, j.Error)
			}
			w := r.stdout
			if out != "" && out != "-" {
				fh, err := os.Create(out)
				if err != nil {
					return err
				}
				defer fh.Close()
				w = fh
			}
			if err := c.Jobs.Output(ctx, j.ID, w); err != nil {
				return err
			}
			if w != r.stdout {
				fmt.Fprintf(r.stderr, "exported %d items to %s\n", j.Progress.DoneItems, out)
			}
			return nil
		})}
	exp.Flags().StringVarP(&out, "out", "f", "", "file to write (default stdout)")
	cancel := &cobra.Command{Use: "cancel ID", Short: "Cancel a queued or running job (applied batches stay)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			j, err := c.Jobs.Cancel(ctx, a[0])
			if err != nil {
				return err
			}
			return showJob(j)
		})}
	var tl listFlags
	taskRow := func(t client.Task) []string {
		lines := "-"
		if t.FirstLine > 0 {
			lines = fmt.Sprintf("%d-%d", t.FirstLine, t.LastLine)
		}
		return []string{t.ID, strconv.Itoa(t.Seq), t.Kind, t.Status, strconv.Itoa(t.Attempts), strconv.FormatInt(t.Items, 10), lines, dash(t.Error)}
	}
	taskHeader := []string{"ID", "SEQ", "KIND", "STATUS", "ATTEMPTS", "ITEMS", "LINES", "ERROR"}
	tasks := &cobra.Command{Use: "tasks ID", Short: "List a job's tasks (its batches)", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			return listing(r, &tl, func(p int) (*client.Page[client.Task], error) {
				o := tl.opts(p)
				return c.Jobs.Tasks(ctx, a[0], &o)
			}, taskHeader, taskRow)
		})}
	tl.add(tasks)
	retry := &cobra.Command{Use: "retry TASK", Short: "Run a failed task again", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			t, err := c.Tasks.Retry(ctx, a[0])
			if err != nil {
				return err
			}
			return r.print(t, taskHeader, [][]string{taskRow(*t)})
		})}
	wait := &cobra.Command{Use: "wait ID", Short: "Follow a job until it ends", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			j, err := c.Jobs.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return finish(ctx, c, j)
		})}
	return group(r, "jobs", "Run and follow imports, exports and other long jobs", envLong("jobs (imports, exports, copies)"),
		list, get, imp, exp, cancel, tasks, retry, wait)
}
