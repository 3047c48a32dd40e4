package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
		logsCmd(newRemote()), webhooksCmd(newRemote()), jobsCmd(newRemote()),
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

// ---- users ----

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

func cmdFlagChanged(r *remote, name string) bool { return r.cmd != nil && r.cmd.Flags().Changed(name) }

func envLong(what string) string {
	return fmt.Sprintf(`Manage an environment's %s. An environment API key implies its environment; with an
organization or project key pass --project and --environment (or set GATEHOUSE_PROJECT and
GATEHOUSE_ENVIRONMENT).`, what)
}

// ---- tenants ----

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

// ---- resources ----

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

// ---- roles ----

func rolesCmd(r *remote) *cobra.Command {
	var l listFlags
	var search string
	row := func(x client.Role) []string {
		return []string{x.Key, dash(x.Name), join(x.Permissions), join(x.Extends), day(x.CreatedAt)}
	}
	show := func(x *client.Role) error {
		return r.one(x, [][2]string{{"key", x.Key}, {"id", x.ID}, {"name", dash(x.Name)}, {"permissions", join(x.Permissions)},
			{"extends", join(x.Extends)}, {"description", dash(x.Description)}, {"created", day(x.CreatedAt)}})
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
	create := &cobra.Command{Use: "create KEY", Short: "Create a role", Args: cobra.ExactArgs(1),
		Example: "  gatehouse roles create editor --permission document:read --permission document:write",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			in.Key = a[0]
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

// ---- assignments ----

func assignmentsCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.AssignmentFilter
	list := &cobra.Command{Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.RoleAssignment], error) {
				g := f
				g.ListOptions = l.opts(p)
				return c.RoleAssignments.List(ctx, &g)
			}, []string{"USER", "ROLE", "TENANT", "CREATED"}, func(a client.RoleAssignment) []string {
				return []string{a.User, a.Role, a.Tenant, day(a.CreatedAt)}
			})
		})}
	l.add(list)
	list.Flags().StringVar(&f.User, "user", "", "only this user")
	list.Flags().StringVar(&f.Role, "role", "", "only this role")
	list.Flags().StringVar(&f.Tenant, "tenant", "", "only this tenant")
	var tenant, untenant string
	assign := &cobra.Command{Use: "assign USER ROLE", Short: "Give a user a role in a tenant", Args: cobra.ExactArgs(2),
		Example: "  gatehouse assignments assign alice editor --tenant acme",
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			x, err := c.RoleAssignments.Assign(ctx, a[0], a[1], tenant)
			if err != nil {
				return err
			}
			return r.one(x, [][2]string{{"user", x.User}, {"role", x.Role}, {"tenant", x.Tenant}, {"id", x.ID}})
		})}
	assign.Flags().StringVar(&tenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	unassign := &cobra.Command{Use: "unassign USER ROLE", Short: "Take a role from a user in a tenant", Args: cobra.ExactArgs(2),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if err := c.RoleAssignments.Unassign(ctx, a[0], a[1], untenant); err != nil {
				return err
			}
			if r.output == "json" {
				return r.print(map[string]any{"unassigned": true, "user": a[0], "role": a[1], "tenant": untenant}, nil, nil)
			}
			fmt.Fprintf(r.stdout, "unassigned %s from %s\n", a[1], a[0])
			return nil
		})}
	unassign.Flags().StringVar(&untenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	return group(r, "assignments", "Manage an environment's role assignments", envLong("role assignments"), list, assign, unassign)
}

// ---- check ----

func checkCmd(r *remote) *cobra.Command {
	var tenant string
	var permissions bool
	cmd := &cobra.Command{
		Use:   "check USER ACTION RESOURCE[:KEY]",
		Short: "Ask whether a user may do an action on a resource (exit status 0 allow, 3 deny)",
		Long: `Ask whether USER may do ACTION on a resource of type RESOURCE (optionally one instance,
RESOURCE:KEY) in a tenant. Prints the decision and why; the exit status is 0 when allowed,
3 when denied and 1 on an error, so scripts can write: if gatehouse check alice read document; then ...
With --permissions (and only USER), lists what the user may do in each tenant.`,
		Example: `  gatehouse check alice read document --tenant acme
  gatehouse check alice --permissions`,
		Args: func(cmd *cobra.Command, args []string) error {
			if permissions {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			if permissions {
				var tenants []string
				if tenant != "" {
					tenants = []string{tenant}
				}
				tp, err := c.Checks.UserPermissions(ctx, a[0], tenants...)
				if err != nil {
					return err
				}
				rows := make([][]string, len(tp))
				for i, t := range tp {
					rows[i] = []string{t.Tenant, join(t.Roles), join(t.Permissions)}
				}
				return r.print(tp, []string{"TENANT", "ROLES", "PERMISSIONS"}, rows)
			}
			typ, key, _ := strings.Cut(a[2], ":")
			d, err := c.Checks.Allowed(ctx, client.Check{User: a[0], Action: a[1], Resource: client.CheckResource{Type: typ, Key: key, Tenant: tenant}})
			if err != nil {
				return err
			}
			verdict := "DENY"
			if d.Allow {
				verdict = "ALLOW"
			}
			if err := r.print(d, nil, [][]string{{verdict, d.Explanation}}); err != nil {
				return err
			}
			if !d.Allow {
				return ExitError{Code: DeniedExitCode}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (default: the environment's default tenant)")
	cmd.Flags().BoolVar(&permissions, "permissions", false, "list the user's permissions per tenant instead")
	r.flags(cmd)
	return cmd
}

// ---- keys ----

func keyRow(k client.APIKey) []string {
	scope := k.Level
	if k.EnvironmentID != "" {
		scope += " " + k.EnvironmentID
	} else if k.ProjectID != "" {
		scope += " " + k.ProjectID
	}
	return []string{k.ID, k.Name, scope, k.Status, strconv.Itoa(len(k.Scopes)), when(k.LastUsedAt), when(k.ExpiresAt)}
}

func keysCmd(r *remote) *cobra.Command {
	var l listFlags
	var level, status string
	list := &cobra.Command{Use: "list", Short: "List API keys (never their tokens)", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.APIKey], error) {
				return c.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: l.opts(p), Level: level, Status: status})
			}, []string{"ID", "NAME", "LEVEL", "STATUS", "SCOPES", "LAST USED", "EXPIRES"}, keyRow)
		})}
	l.add(list)
	list.Flags().StringVar(&level, "level", "", "organization, project or environment")
	list.Flags().StringVar(&status, "status", "", "active, revoked or expired")
	showKey := func(k *client.APIKey) [][2]string {
		return [][2]string{{"id", k.ID}, {"name", k.Name}, {"level", k.Level}, {"project", dash(k.ProjectID)}, {"environment", dash(k.EnvironmentID)},
			{"scopes", join(k.Scopes)}, {"status", k.Status}, {"expires", when(k.ExpiresAt)}, {"last used", when(k.LastUsedAt)}}
	}
	get := &cobra.Command{Use: "get ID", Short: "Show an API key", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Get(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(k, showKey(k))
		})}
	var in client.APIKeyInput
	var expiresIn time.Duration
	created := func(k *client.CreatedAPIKey) error {
		if r.output == "json" {
			return r.print(k, nil, nil)
		}
		if err := r.one(k, showKey(&k.APIKey)); err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "\ntoken (shown once, store it now):\n%s\n", k.Token)
		return nil
	}
	create := &cobra.Command{Use: "create", Short: "Create an API key (its token is shown once)", Args: cobra.NoArgs,
		Example: `  gatehouse keys create --name backend --level environment --project default --environment production \
    --scope check:access --scope read:users`,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			fc, _ := r.resolve()
			in.Project, in.Environment = fc.Project, fc.Environment
			if in.Level == "" {
				switch {
				case in.Environment != "":
					in.Level = "environment"
				case in.Project != "":
					in.Level = "project"
				default:
					in.Level = "organization"
				}
			}
			if expiresIn > 0 {
				t := time.Now().Add(expiresIn).UTC()
				in.ExpiresAt = &t
			}
			k, err := c.APIKeys.Create(ctx, in)
			if err != nil {
				return err
			}
			return created(k)
		})}
	cf := create.Flags()
	cf.StringVar(&in.Name, "name", "", "name")
	cf.StringVar(&in.Level, "level", "", "organization, project or environment (default: from --project/--environment)")
	cf.StringSliceVar(&in.Scopes, "scope", nil, "scope (repeat, or a,b); `gatehouse keys scopes` lists them")
	cf.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h (default: never expires)")
	cf.IntVar(&in.RateLimit, "rate-limit", 0, "calls per hour (default: the organization's)")
	scopes := &cobra.Command{Use: "scopes", Short: "List the scopes a key can hold", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			s, err := c.System.Scopes(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, len(s))
			for i, x := range s {
				rows[i] = scopeRow(x)
			}
			return r.print(s, []string{"SCOPE", "DESCRIPTION"}, rows)
		})}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an API key now", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Revoke(ctx, a[0])
			if err != nil {
				return err
			}
			return r.one(k, showKey(k))
		})}
	var grace time.Duration
	rotate := &cobra.Command{Use: "rotate ID", Short: "Replace an API key by a new one; the old works for --grace", Args: cobra.ExactArgs(1),
		RunE: r.run(func(ctx context.Context, c *client.Client, a []string) error {
			k, err := c.APIKeys.Rotate(ctx, a[0], grace)
			if err != nil {
				return err
			}
			return created(k)
		})}
	rotate.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the old key keeps working")
	me := &cobra.Command{Use: "whoami", Short: "Show the key in use: its level, scopes and where it reaches", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			m, err := c.System.Me(ctx)
			if err != nil {
				return err
			}
			return r.one(m, [][2]string{{"key", m.KeyName}, {"id", m.KeyID}, {"level", m.Level}, {"organization", m.OrganizationID},
				{"project", dash(m.ProjectID)}, {"environment", dash(m.EnvironmentID)}, {"scopes", join(m.Scopes)}, {"expires", when(m.ExpiresAt)}})
		})}
	return group(r, "keys", "Manage API keys", "", list, get, create, revoke, rotate, scopes, me)
}

// ---- logs ----

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

// ---- webhooks ----

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

// ---- jobs ----

func jobRow(j client.Job) []string {
	return []string{j.ID, j.Type, j.Status, fmt.Sprintf("%.0f%%", j.Progress.Percent),
		fmt.Sprintf("%d/%d", j.Progress.DoneItems+j.Progress.FailedItems, j.Progress.TotalItems), day(j.CreatedAt), when(j.FinishedAt)}
}

func jobsCmd(r *remote) *cobra.Command {
	var l listFlags
	var f client.JobFilter
	jobHeader := []string{"ID", "TYPE", "STATUS", "PROGRESS", "ITEMS", "CREATED", "FINISHED"}
	list := &cobra.Command{Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: r.run(func(ctx context.Context, c *client.Client, _ []string) error {
			return listing(r, &l, func(p int) (*client.Page[client.Job], error) {
				g := f
				g.ListOptions = l.opts(p)
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
				fmt.Fprintf(r.stdout, "  line %d: %s\n", e.Line, e.Message)
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

func (r *remote) stdinOrNil() io.Reader {
	if r.stdin == nil {
		return strings.NewReader("")
	}
	return r.stdin
}

func scopeRow(s client.Scope) []string {
	d := s.Description
	if s.AdminOnly {
		d += " (Admin members only)"
	}
	return []string{s.Name, d}
}
