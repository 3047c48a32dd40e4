package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/spf13/cobra"
)

// remote is what the commands that talk to a server share: where it is,
// the key, the environment and the output format. Flags win over
// GATEHOUSE_* variables, which win over the config file `gatehouse login`
// writes.
type remote struct {
	getenv        func(string) string
	stdout        io.Writer
	stderr        io.Writer
	apiURL, key   string
	keyFile       string
	project, env  string
	output        string
	configPath    string
	stdin         io.Reader
	progressWrite func(string)   // tests replace the terminal
	cmd           *cobra.Command // the command running
}

// fileConfig is the config file (GATEHOUSE_CONFIG, default
// ~/.config/gatehouse/config.json).
type fileConfig struct {
	APIURL      string `json:"api_url"`
	Key         string `json:"key"`
	Project     string `json:"project,omitempty"`
	Environment string `json:"environment,omitempty"`
}

func (r *remote) defaultConfigPath() string {
	if p := r.getenv("GATEHOUSE_CONFIG"); p != "" {
		return p
	}
	if d := r.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "gatehouse", "config.json")
	}
	home := r.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "gatehouse", "config.json")
}

// flags adds the shared flags to a command group.
func (r *remote) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&r.apiURL, "api-url", "", "the server (env GATEHOUSE_API_URL; default http://127.0.0.1:8080)")
	f.StringVar(&r.key, "key", "", "the API key; prefer "+cmdkit.KeySources+" or gatehouse login, as a flag's value shows in ps")
	f.StringVar(&r.keyFile, "key-file", "", "a `FILE` holding the API key alone (env GATEHOUSE_API_KEY otherwise)")
	f.StringVar(&r.project, "project", "", "project id or key of environment-scoped calls (env GATEHOUSE_PROJECT; implied by an environment key)")
	f.StringVar(&r.env, "environment", "", "environment id or key (env GATEHOUSE_ENVIRONMENT)")
	f.StringVarP(&r.output, "output", "o", "table", "table or json")
	f.StringVar(&r.configPath, "config", "", "config file (env GATEHOUSE_CONFIG; default ~/.config/gatehouse/config.json)")
}

func (r *remote) resolve() (fileConfig, error) {
	if r.configPath == "" {
		r.configPath = r.defaultConfigPath()
	}
	var fc fileConfig
	if data, err := os.ReadFile(r.configPath); err == nil {
		if err := json.Unmarshal(data, &fc); err != nil {
			return fc, fmt.Errorf("config file %s: %w", r.configPath, err)
		}
	}
	pick := func(flag, env string, file string) string {
		if flag != "" {
			return flag
		}
		if v := r.getenv(env); v != "" {
			return v
		}
		return file
	}
	fc.APIURL = pick(r.apiURL, "GATEHOUSE_API_URL", fc.APIURL)
	if fc.APIURL == "" {
		fc.APIURL = "http://127.0.0.1:8080"
	}
	key := r.key
	if r.keyFile != "" {
		if key != "" {
			return fc, errors.New("give the key once: --key or --key-file")
		}
		var err error
		if key, err = cmdkit.ReadKeyFile(r.keyFile); err != nil {
			return fc, err
		}
	}
	key = pick(key, "GATEHOUSE_API_KEY", "")
	if key == "" {
		key = pick("", "GATEHOUSE_KEY", fc.Key) // the README's variable
	}
	fc.Key = key
	fc.Project = pick(r.project, "GATEHOUSE_PROJECT", fc.Project)
	fc.Environment = pick(r.env, "GATEHOUSE_ENVIRONMENT", fc.Environment)
	if r.output != "table" && r.output != "json" {
		return fc, fmt.Errorf("--output %q: want table or json", r.output)
	}
	return fc, nil
}

// client returns an SDK client for the resolved settings.
func (r *remote) client() (*client.Client, error) {
	fc, err := r.resolve()
	if err != nil {
		return nil, err
	}
	if fc.Key == "" {
		return nil, errors.New("no API key: set " + cmdkit.KeySources + ", or run `gatehouse login`")
	}
	c := client.New(fc.APIURL, fc.Key, client.WithUserAgent("gatehouse-cli"))
	if fc.Project != "" || fc.Environment != "" {
		if fc.Project == "" || fc.Environment == "" {
			return nil, errors.New("give both --project and --environment (or neither: an environment key implies its own)")
		}
		c = c.WithEnvironment(fc.Project, fc.Environment)
	}
	return c, nil
}

// explain turns an error into what the person should read.
func (r *remote) explain(err error) error {
	var ae *client.Error
	if errors.As(err, &ae) {
		hint := ""
		switch ae.Code {
		case client.CodeUnauthorized:
			hint = " (check the key: GATEHOUSE_API_KEY, --key-file, --key or `gatehouse login`)"
		case client.CodeForbidden:
			hint = " (the key lacks a scope, or cannot reach this project or environment)"
		case client.CodeInvalidRequest:
			// The server's words are for API callers (query parameters);
			// here the command had no environment to send, the key none
			// of its own.
			if ae.Details["field"] == "environment" && ae.Details["reason"] == "required_field_missing" {
				return fmt.Errorf("%s: this command works in one environment, and the key is not bound to one: pass --project and "+
					"--environment (or set GATEHOUSE_PROJECT and GATEHOUSE_ENVIRONMENT), or use an environment key", ae.Code)
			}
			if errs, ok := ae.Details["errors"].([]any); ok {
				var lines []string
				for i, e := range errs {
					if i == 20 {
						lines = append(lines, fmt.Sprintf("  … and %d more", len(errs)-20))
						break
					}
					if m, ok := e.(map[string]any); ok && m["line"] != nil {
						lines = append(lines, fmt.Sprintf("  line %v: %v", m["line"], m["message"]))
					}
				}
				if len(lines) > 0 {
					hint = "\n" + strings.Join(lines, "\n")
				}
			}
		}
		return fmt.Errorf("%s: %s%s", ae.Code, ae.Message, hint)
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		fc, _ := r.resolve()
		return fmt.Errorf("cannot reach the server at %s (is `gatehouse serve` running there?): %v", fc.APIURL, ne.Err)
	}
	return err
}

// run wraps a command's work: the SDK client in, explained errors out.
func (r *remote) run(fn func(ctx context.Context, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r.cmd = cmd
		c, err := r.client()
		if err != nil {
			return err
		}
		if err := fn(cmd.Context(), c, args); err != nil {
			return r.explain(err)
		}
		return nil
	}
}

// print writes v as JSON, or as a table of rows.
func (r *remote) print(v any, header []string, rows [][]string) error {
	if r.output == "json" {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(r.stdout, 2, 4, 2, ' ', 0)
	line := func(cells []string) {
		clean := make([]string, len(cells))
		for i, c := range cells {
			clean[i] = termSafe(c)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	if len(header) > 0 {
		line(header)
	}
	for _, row := range rows {
		line(row)
	}
	return tw.Flush()
}

// TermSafeMessage is an error message for the terminal: as termSafe, but
// its lines and tabs are kept (a message may span lines); the server's
// text in it (a key that already exists, say) runs no escape sequence.
func TermSafeMessage(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		cells := strings.Split(l, "\t")
		for j, c := range cells {
			cells[j] = termSafe(c)
		}
		lines[i] = strings.Join(cells, "\t")
	}
	return strings.Join(lines, "\n")
}

// termSafe is text from the server as a terminal may show it: control
// characters (C0, DEL, C1: escape sequences that set a window title,
// erase lines or write the clipboard; tabs and newlines that fake table
// cells or rows) written as Go escapes (\x1b, \t, \u009b). Anyone who
// may write a user's name or an incident's title could otherwise run
// them in an operator's terminal. JSON output (-o json) escapes them
// already.
func termSafe(s string) string {
	clean := true
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c <= 0x9f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c <= 0x9f {
			q := strconv.QuoteRune(c)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// footer tells a table reader there is more.
func (r *remote) footer(meta client.PageMeta) {
	if r.output == "table" && meta.TotalPages > 1 {
		fmt.Fprintf(r.stdout, "page %d of %d (%d in all): --page N for more, or --all\n", meta.Page, meta.TotalPages, meta.TotalItems)
	}
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func day(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

// progress draws a job's progress on stderr: a bar on a terminal, a line
// every 10% otherwise.
func (r *remote) progress() func(*client.Job) {
	term := r.progressWrite != nil
	if f, ok := r.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			term = true
		}
	}
	write := r.progressWrite
	if write == nil {
		write = func(s string) { fmt.Fprint(r.stderr, s) }
	}
	last := -10
	return func(j *client.Job) {
		p := int(j.Progress.Percent)
		if term {
			const width = 30
			fill := p * width / 100
			write(fmt.Sprintf("\r[%s%s] %3d%%  %d/%d  %s ", strings.Repeat("█", fill), strings.Repeat("░", width-fill), p,
				j.Progress.DoneItems+j.Progress.FailedItems, j.Progress.TotalItems, j.Status))
			if j.Ended() {
				write("\n")
			}
			return
		}
		if p/10 != last/10 || j.Ended() {
			last = p
			write(fmt.Sprintf("%s: %d%% (%d/%d)\n", j.Status, p, j.Progress.DoneItems+j.Progress.FailedItems, j.Progress.TotalItems))
		}
	}
}

// loginCmd checks a key against a server and remembers both.
func loginCmd(r *remote) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Check an API key against a server and save both in the config file (0600)",
		Long: `Check an API key against a server and save both in the config file, so that the other
commands need neither. The key comes from GATEHOUSE_API_KEY (or GATEHOUSE_KEY), --key-file FILE
or --key (whose value shows in ps); the file is GATEHOUSE_CONFIG, or
~/.config/gatehouse/config.json, readable by you only.`,
		Example: `  GATEHOUSE_API_KEY='<the key>' gatehouse login --api-url http://127.0.0.1:8080
  gatehouse login --api-url https://auth.example.com --key-file ~/.gatehouse-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := r.resolve()
			if err != nil {
				return err
			}
			if fc.Key == "" {
				return errors.New("no API key: set " + cmdkit.KeySources)
			}
			me, err := client.New(fc.APIURL, fc.Key).System.Me(cmd.Context())
			if err != nil {
				return r.explain(err)
			}
			if err := os.MkdirAll(filepath.Dir(r.configPath), 0o700); err != nil {
				return err
			}
			data, _ := json.MarshalIndent(fc, "", "  ")
			if err := os.WriteFile(r.configPath, append(data, '\n'), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(r.stdout, "Logged in to %s with %s key %q (%d scopes); saved in %s\n", fc.APIURL, me.Level, termSafe(me.KeyName), len(me.Scopes), r.configPath)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
