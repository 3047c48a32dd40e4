package fine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The HTTP comparison (cmd/finehttp) runs each peer as its real server
// binary on loopback. This file holds what they share: building the
// binaries from the module cache, starting and stopping processes,
// throw-away PostgreSQL databases and a JSON-over-HTTP client.

// Cleanup runs functions in reverse order of registration, once.
type Cleanup struct {
	mu  sync.Mutex
	fns []func()
}

// Add registers f.
func (c *Cleanup) Add(f func()) {
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
}

// Run runs every registered function, last first.
func (c *Cleanup) Run() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// BuildBinary builds the main package pkg (a dependency of this module,
// e.g. github.com/openfga/openfga/cmd/openfga) into dir and returns its
// path and the module version it was built from. moduleDir is the bench
// module's directory.
func BuildBinary(ctx context.Context, moduleDir, dir, name, pkg string) (path, version string, err error) {
	path = filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, pkg)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	version, err = BinaryVersion(ctx, path, pkg)
	return path, version, err
}

// BinaryVersion reads the version of the module that provides pkg from
// the binary's build information (go version -m).
func BinaryVersion(ctx context.Context, bin, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return "", fmt.Errorf("go version -m %s: %w", bin, err)
	}
	best, version := "", ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") && (pkg == f[1] || strings.HasPrefix(pkg, f[1]+"/")) && len(f[1]) > len(best) {
			best, version = f[1], f[2]
		}
	}
	if version == "" {
		return "", fmt.Errorf("%s: no module providing %s in its build information", bin, pkg)
	}
	return version, nil
}

// Proc is a server process started by the benchmark, its output in a file.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
}

// StartProc starts bin with args, stdout and stderr to dir/name.log. The
// process is killed if this one dies (Linux).
func StartProc(dir, name, bin string, args ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail returns the last n bytes of the process's output.
func (p *Proc) Tail(n int64) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits.
func (p *Proc) Stop() {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

// RunOnce runs bin to completion, its output in dir/name.log.
func RunOnce(ctx context.Context, dir, name, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = procAttr()
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, name+".log"), out, 0o600)
	if err != nil {
		tail := out
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s: %w\n%s", name, err, tail)
	}
	return nil
}

// WaitReady polls ready until it succeeds, the process exits or timeout
// passes.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before it was ready:\n%s", p.Name, p.waitErr, p.Tail(3000))
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(rctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", p.Name, timeout, last, p.Tail(3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PollUntil calls f every 2 ms until it succeeds, the process exits or
// timeout passes: fine enough to time a start in milliseconds.
func PollUntil(ctx context.Context, p *Proc, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited:\n%s", p.Name, p.Tail(3000))
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w\n%s", p.Name, timeout, err, p.Tail(3000))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// PGDatabase is a database created for one run and dropped after it.
type PGDatabase struct {
	Name, URL string
	admin     string
}

// CreatePGDatabase creates the database name on the server of admin (a
// URL of an existing database the user may create databases from).
func CreatePGDatabase(ctx context.Context, admin, name string) (*PGDatabase, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &PGDatabase{Name: name, URL: u.String(), admin: admin}, nil
}

// Drop drops the database, ending its connections.
func (d *PGDatabase) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", d.Name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.Name, err)
	}
	return nil
}

// NewHTTPClient is the keep-alive client every engine is measured with.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
		Timeout: 10 * time.Minute,
	}
}

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.URL, e.Status, e.Body)
}

// PostJSON posts body as JSON (a json.RawMessage as it is) with the
// bearer token and decodes a 2xx
// answer into out (when not nil); the body is always read to its end so
// the connection is reused.
func PostJSON(ctx context.Context, c *http.Client, url, token string, body, out any) error {
	return DoJSON(ctx, c, http.MethodPost, url, token, body, out)
}

// DoJSON is PostJSON with any method.
func DoJSON(ctx context.Context, c *http.Client, method, url, token string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case json.RawMessage: // encoded once, before anything is timed
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 1000 {
			b = b[:1000]
		}
		return &HTTPError{Method: method, URL: url, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
		}
	}
	return nil
}

// Parallel runs f(i) for i in [0, n) on workers goroutines and returns
// the first error (the others stop at their next item).
func Parallel(outer context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(outer)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		return outer.Err()
	}
	return first
}
