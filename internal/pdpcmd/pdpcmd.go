// Package pdpcmd is the standalone decision point's command: `gatehouse pdp`
// in the gatehouse program and the whole of gatehouse-pdp
// (cmd/gatehouse-pdp), the same flags, variables, configuration file and
// help in both. It links no server package (no store, HTTP API, dashboard,
// database drivers or OpenTelemetry SDK), so that gatehouse-pdp is a small
// binary whose code keeps few pages resident; deps_test.go holds it to it.
package pdpcmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/conffile"
	"github.com/gatehouse-dev/gatehouse/internal/logging"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
	"github.com/gatehouse-dev/gatehouse/internal/pdp"
	"github.com/spf13/cobra"
)

// Run runs gatehouse-pdp with the command line args; OS access comes in as
// parameters so that tests can run it in-process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := Command(ctx, "gatehouse-pdp", getenv, stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	// `gatehouse version` prints the same line for the gatehouse program.
	cmd.Version = buildinfo.Get().String()
	cmd.SetVersionTemplate("gatehouse-pdp {{.Version}}\n")
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// Command is the PDP's command, named as it is typed: "gatehouse pdp" (a
// subcommand) or "gatehouse-pdp" (a program's root).
func Command(ctx context.Context, name string, getenv func(string) string, stderr io.Writer) *cobra.Command {
	pc := pdp.Config{APIURL: getenv("GATEHOUSE_API_URL"), Key: getenv("GATEHOUSE_API_KEY"), Addr: getenv("GATEHOUSE_PDP_ADDR"),
		DataDir: getenv("GATEHOUSE_PDP_SNAPSHOT_DIR")}
	if pc.Addr == "" {
		pc.Addr = pdp.DefaultAddr
	}
	if pc.DataDir == "" {
		pc.DataDir = "gatehouse-pdp-data"
	}
	var keyFile, tlsCert, tlsKey, adminAddr, memLimit, configFile string
	logLevel, logFormat := or(getenv(logging.Level.Env), logging.Level.Default), or(getenv(logging.Format.Env), logging.Format.Default)
	var graceErr error
	if v := getenv("GATEHOUSE_PDP_REVOKED_GRACE"); v != "" {
		pc.RevokedGrace, graceErr = time.ParseDuration(v)
	}
	cmd := &cobra.Command{
		Use:   name[strings.LastIndex(name, " ")+1:],
		Short: "Run a standalone decision point beside your application",
		Long: `Run a standalone decision point (PDP) for one environment. It loads the environment's
data from a Gatehouse server, follows every change as it happens (a Server-Sent Events stream),
answers checks from memory on POST /v1/allowed, /v1/allowed/bulk and /v1/user-permissions
(the server's shapes; send the same key as Bearer), and saves the last good snapshot under
--snapshot-dir, so it keeps answering while the server is down, also after a restart.
GET /healthz reports its sync state.

While the server is unreachable the PDP keeps answering from its snapshot. Once the server
says the key is revoked (or expired), it stops answering checks that present it, after
--revoked-grace (default: at once), and /healthz reports state "revoked" with a 503.

Only an environment-level API key with check:access works. Give it in GATEHOUSE_API_KEY or in a
file named by --key-file; --key works too, but its value shows in ps.`,
		Example: `  export GATEHOUSE_API_KEY='<an environment key with check:access>'
  ` + name + ` --api-url http://127.0.0.1:8080
  curl -s -X POST http://127.0.0.1:7766/v1/allowed -H "Authorization: Bearer $GATEHOUSE_API_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"user":"alice","action":"read","resource":{"type":"document","tenant":"acme"}}'`,
		Args: cobra.NoArgs,
		// The configuration file fills in what neither the command line
		// nor the environment set, once the flags are parsed (the
		// gatehouse program's other commands apply theirs in its root).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				return nil
			}
			return cmdkit.ApplyFile(cmd, configFile, getenv, nil, nil)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if graceErr != nil {
				return fmt.Errorf("GATEHOUSE_PDP_REVOKED_GRACE: %w", graceErr)
			}
			if pc.RevokedGrace < 0 {
				return fmt.Errorf("--revoked-grace %s: must not be negative", pc.RevokedGrace)
			}
			limit, err := memory.ParseSize(memLimit)
			if err == nil {
				err = memory.SetLimit(limit)
			}
			if err != nil {
				return fmt.Errorf("--memory-limit: %w", err)
			}
			if adminAddr != "" {
				if _, _, err := net.SplitHostPort(adminAddr); err != nil {
					return fmt.Errorf("--admin-addr %q: %w", adminAddr, err)
				}
			}
			if keyFile != "" {
				if cmd.Flags().Changed("key") {
					return fmt.Errorf("give the key once: --key or --key-file")
				}
				var err error
				if pc.Key, err = cmdkit.ReadKeyFile(keyFile); err != nil {
					return err
				}
			}
			if pc.Key == "" {
				return fmt.Errorf("no API key: set %s (an environment key with check:access)", cmdkit.KeySources)
			}
			tc, err := cmdkit.LoadTLS(tlsCert, tlsKey)
			if err != nil {
				return err
			}
			pc.Log = logging.New(logLevel, logFormat, stderr)
			if open := cmdkit.OpenKeyFile(tlsKey); open != "" {
				pc.Log.Warn("a secret file is open to other users", "problem", open)
			}
			p, err := pdp.New(pc)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", pc.Addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			scheme := "http://"
			if tc != nil {
				scheme = "https://"
			}
			if adminAddr != "" {
				adminLn, err := net.Listen("tcp", adminAddr)
				if err != nil {
					ln.Close()
					return fmt.Errorf("admin listen: %w", err)
				}
				ctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				defer func() { cancel(); <-done }()
				go func() {
					defer close(done)
					if err := pdp.ServeAdmin(ctx, adminLn, pc.Log); err != nil {
						pc.Log.Error("admin listener stopped", "err", err)
					}
				}()
				addr := adminLn.Addr().String()
				if host, _, _ := net.SplitHostPort(addr); !net.ParseIP(host).IsLoopback() {
					pc.Log.Warn("the admin listener is not on loopback and asks for no credentials: keep its port off the internet", "admin_addr", addr)
				}
				pc.Log.Info("admin listener", "addr", addr, "pprof", "http://"+addr+"/debug/pprof/")
			}
			pc.Log.Info("pdp listening", "url", scheme+ln.Addr().String(), "server", pc.APIURL, "snapshot", p.SnapshotPath())
			return p.Run(ctx, cmdkit.WithTLS(ln, tc))
		},
	}
	f := cmd.Flags()
	f.StringVar(&pc.APIURL, "api-url", pc.APIURL, "the Gatehouse server; several, comma-separated, to fail over from one to the next (env GATEHOUSE_API_URL)")
	f.StringVar(&pc.Key, "key", pc.Key, "an environment API key with check:access; prefer "+cmdkit.KeySources+", as a flag's value shows in ps")
	f.StringVar(&keyFile, "key-file", "", "a `FILE` holding the environment API key alone (env GATEHOUSE_API_KEY otherwise)")
	f.StringVar(&pc.Addr, "addr", pc.Addr, "listen address (env GATEHOUSE_PDP_ADDR)")
	f.StringVar(&pc.DataDir, "snapshot-dir", pc.DataDir, "where the last good snapshot is kept (env GATEHOUSE_PDP_SNAPSHOT_DIR)")
	f.DurationVar(&pc.RevokedGrace, "revoked-grace", pc.RevokedGrace, "how long to keep answering once the server says the key is revoked; 0 stops at once (env GATEHOUSE_PDP_REVOKED_GRACE)")
	f.StringVar(&adminAddr, "admin-addr", getenv("GATEHOUSE_PDP_ADMIN_ADDR"), "listen address of an admin listener serving /debug/pprof/ (e.g. 127.0.0.1:7767); never the PDP's own port; keep it off the internet; empty: off (env GATEHOUSE_PDP_ADMIN_ADDR)")
	f.StringVar(&memLimit, "memory-limit", getenv("GATEHOUSE_PDP_MEMORY_LIMIT"), "the Go runtime's soft memory limit, such as 48MiB (units B, KB, MB, GB, KiB, MiB, GiB): less idle memory kept, more collections near it; not a cap; at least 16MiB; empty or 0: off (env GATEHOUSE_PDP_MEMORY_LIMIT)")
	f.StringVar(&tlsCert, "tls-cert", getenv("GATEHOUSE_PDP_TLS_CERT"), "PEM certificate (chain) file: with --tls-key, the PDP serves HTTPS (env GATEHOUSE_PDP_TLS_CERT)")
	f.StringVar(&tlsKey, "tls-key", getenv("GATEHOUSE_PDP_TLS_KEY"), "PEM private key file of --tls-cert (env GATEHOUSE_PDP_TLS_KEY)")
	f.StringVar(&configFile, conffile.Flag, getenv(conffile.Env), usage(conffile.Help, conffile.Env))
	f.StringVar(&logLevel, logging.Level.Flag, logLevel, usage(logging.Level.Help, logging.Level.Env))
	f.StringVar(&logFormat, logging.Format.Flag, logFormat, usage(logging.Format.Help, logging.Format.Env))
	for flag, env := range map[string]string{conffile.Flag: conffile.Env, logging.Level.Flag: logging.Level.Env, logging.Format.Flag: logging.Format.Env,
		"api-url": "GATEHOUSE_API_URL", "key": "GATEHOUSE_API_KEY", "addr": "GATEHOUSE_PDP_ADDR",
		"snapshot-dir": "GATEHOUSE_PDP_SNAPSHOT_DIR", "revoked-grace": "GATEHOUSE_PDP_REVOKED_GRACE",
		"tls-cert": "GATEHOUSE_PDP_TLS_CERT", "tls-key": "GATEHOUSE_PDP_TLS_KEY",
		"admin-addr": "GATEHOUSE_PDP_ADMIN_ADDR", "memory-limit": "GATEHOUSE_PDP_MEMORY_LIMIT"} {
		cmdkit.AnnotateEnv(cmd, flag, env)
	}
	return cmd
}

// usage is a setting's flag help, its variable named as config.Setting's
// Usage names it.
func usage(help, env string) string { return help + " (env " + env + ")" }

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
