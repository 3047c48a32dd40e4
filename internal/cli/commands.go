package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/spf13/cobra"
)

// ExitError ends the program with Code and no message (a denied check).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }

// DeniedExitCode is the exit status of `gatehouse check` when the answer is
// deny (0 is allow, 1 an error).
const DeniedExitCode = 3

// remoteCmds are the command groups that talk to a server with the SDK.
func remoteCmds(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) []*cobra.Command {
	newRemote := func() *remote { return &remote{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr} }
	return []*cobra.Command{
		loginCmd(newRemote()), usersCmd(newRemote()), tenantsCmd(newRemote()), resourcesCmd(newRemote()),
		rolesCmd(newRemote()), assignmentsCmd(newRemote()), checkCmd(newRemote()), keysCmd(newRemote()),
		logsCmd(newRemote()), auditCmd(newRemote()), webhooksCmd(newRemote()), jobsCmd(newRemote()), statusCmd(newRemote()),
	}
}

// group makes a command group with the shared connection flags.
func group(r *remote, use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.NoArgs}
	r.flags(cmd)
	cmd.AddCommand(subs...)
	return cmd
}

// listFlags page a list command.
type listFlags struct {
	page, perPage int
	all           bool
	sort          string
	desc          bool
}

func (l *listFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&l.page, "page", 1, "page to show")
	f.IntVar(&l.perPage, "per-page", 30, "items per page (at most 100)")
	f.BoolVar(&l.all, "all", false, "every page")
	f.StringVar(&l.sort, "sort", "", "field to sort by (created_at, key, name, ...)")
	f.BoolVar(&l.desc, "desc", false, "descending order")
}

func (l *listFlags) opts(page int) client.ListOptions {
	pp := l.perPage
	if l.all {
		pp = 100
	}
	return client.ListOptions{Page: page, PerPage: pp, Sort: l.sort, Desc: l.desc}
}

// listing prints a page (or, with --all, every page) of a list.
func listing[T any](r *remote, l *listFlags, fetch func(page int) (*client.Page[T], error), header []string, row func(T) []string) error {
	page := l.page
	if l.all {
		page = 1
	}
	var items []T
	var meta client.PageMeta
	for {
		p, err := fetch(page)
		if err != nil {
			return err
		}
		items = append(items, p.Items...)
		meta = p.Meta
		if !l.all || !p.Meta.HasNext {
			break
		}
		page++
	}
	if items == nil {
		items = []T{}
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	if err := r.print(items, header, rows); err != nil {
		return err
	}
	if !l.all {
		r.footer(meta)
	}
	return nil
}

// one prints a single item: JSON, or a two-column table of its fields.
func (r *remote) one(v any, fields [][2]string) error {
	rows := make([][]string, len(fields))
	for i, f := range fields {
		rows[i] = []string{f[0] + ":", f[1]}
	}
	return r.print(v, nil, rows)
}

// attrs parses repeated key=value flags; a value that is JSON (a number,
// true, ["a"]) is kept as such, anything else is a string.
func attrs(kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		var j any
		if err := json.Unmarshal([]byte(v), &j); err == nil {
			m[k] = j
		} else {
			m[k] = v
		}
	}
	return m, nil
}

func jsonText(v any) string {
	if v == nil {
		return "-"
	}
	b, _ := json.Marshal(v)
	if s := string(b); s != "{}" && s != "null" {
		return s
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func join(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func deleted(r *remote, what, ref string) {
	if r.output == "json" {
		_ = r.print(map[string]any{"deleted": true, "ref": ref}, nil, nil)
		return
	}
	fmt.Fprintf(r.stdout, "deleted %s %s\n", what, ref)
}

func cmdFlagChanged(r *remote, name string) bool { return r.cmd != nil && r.cmd.Flags().Changed(name) }

func envLong(what string) string {
	return fmt.Sprintf(`Manage an environment's %s. An environment API key implies its environment; with an
organization or project key pass --project and --environment (or set GATEHOUSE_PROJECT and
GATEHOUSE_ENVIRONMENT).`, what)
}

func (r *remote) stdinOrNil() io.Reader {
	if r.stdin == nil {
		return strings.NewReader("")
	}
	return r.stdin
}
