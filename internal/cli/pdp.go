package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
	"github.com/gatehouse-dev/gatehouse/internal/pdp"
	"github.com/spf13/cobra"
)

func pdpCmd(ctx context.Context, cfg *config.Config, getenv func(string) string, stderr io.Writer) *cobra.Command {
	pc := pdp.Config{APIURL: getenv("GATEHOUSE_API_URL"), Key: getenv("GATEHOUSE_API_KEY"), Addr: getenv("GATEHOUSE_PDP_ADDR"),
		DataDir: getenv("GATEHOUSE_PDP_SNAPSHOT_DIR")}
	if pc.Addr == "" {
		pc.Addr = pdp.DefaultAddr
	}
	if pc.DataDir == "" {
		pc.DataDir = "gatehouse-pdp-data"
	}
	var keyFile, tlsCert, tlsKey, adminAddr, memLimit string
	var graceErr error
	if v := getenv("GATEHOUSE_PDP_REVOKED_GRACE"); v != "" {
		pc.RevokedGrace, graceErr = time.ParseDuration(v)
	}
	cmd := &cobra.Command{
		Use:   "pdp",
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
  gatehouse pdp --api-url http://127.0.0.1:8080
  curl -s -X POST http://127.0.0.1:7766/v1/allowed -H "Authorization: Bearer $GATEHOUSE_API_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"user":"alice","action":"read","resource":{"type":"document","tenant":"acme"}}'`,
		Args: cobra.NoArgs,
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
				if pc.Key, err = readKeyFile(keyFile); err != nil {
					return err
				}
			}
			if pc.Key == "" {
				return fmt.Errorf("no API key: set %s (an environment key with check:access)", keySources)
			}
			tc, err := loadTLS(tlsCert, tlsKey)
			if err != nil {
				return err
			}
			pc.Log = newLogger(*cfg, stderr)
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
			pc.Log.Info("gatehouse pdp listening", "url", scheme+ln.Addr().String(), "server", pc.APIURL, "snapshot", p.SnapshotPath())
			return p.Run(ctx, withTLS(ln, tc))
		},
	}
	f := cmd.Flags()
	f.StringVar(&pc.APIURL, "api-url", pc.APIURL, "the Gatehouse server; several, comma-separated, to fail over from one to the next (env GATEHOUSE_API_URL)")
	f.StringVar(&pc.Key, "key", pc.Key, "an environment API key with check:access; prefer "+keySources+", as a flag's value shows in ps")
	f.StringVar(&keyFile, "key-file", "", "a `FILE` holding the environment API key alone (env GATEHOUSE_API_KEY otherwise)")
	f.StringVar(&pc.Addr, "addr", pc.Addr, "listen address (env GATEHOUSE_PDP_ADDR)")
	f.StringVar(&pc.DataDir, "snapshot-dir", pc.DataDir, "where the last good snapshot is kept (env GATEHOUSE_PDP_SNAPSHOT_DIR)")
	f.DurationVar(&pc.RevokedGrace, "revoked-grace", pc.RevokedGrace, "how long to keep answering once the server says the key is revoked; 0 stops at once (env GATEHOUSE_PDP_REVOKED_GRACE)")
	f.StringVar(&adminAddr, "admin-addr", getenv("GATEHOUSE_PDP_ADMIN_ADDR"), "listen address of an admin listener serving /debug/pprof/ (e.g. 127.0.0.1:7767); never the PDP's own port; keep it off the internet; empty: off (env GATEHOUSE_PDP_ADMIN_ADDR)")
	f.StringVar(&memLimit, "memory-limit", getenv("GATEHOUSE_PDP_MEMORY_LIMIT"), "the Go runtime's soft memory limit, such as 48MiB (units B, KB, MB, GB, KiB, MiB, GiB): less idle memory kept, more collections near it; not a cap; at least 16MiB; empty or 0: off (env GATEHOUSE_PDP_MEMORY_LIMIT)")
	f.StringVar(&tlsCert, "tls-cert", getenv("GATEHOUSE_PDP_TLS_CERT"), "PEM certificate (chain) file: with --tls-key, the PDP serves HTTPS (env GATEHOUSE_PDP_TLS_CERT)")
	f.StringVar(&tlsKey, "tls-key", getenv("GATEHOUSE_PDP_TLS_KEY"), "PEM private key file of --tls-cert (env GATEHOUSE_PDP_TLS_KEY)")
	for flag, env := range map[string]string{"api-url": "GATEHOUSE_API_URL", "key": "GATEHOUSE_API_KEY", "addr": "GATEHOUSE_PDP_ADDR",
		"snapshot-dir": "GATEHOUSE_PDP_SNAPSHOT_DIR", "revoked-grace": "GATEHOUSE_PDP_REVOKED_GRACE",
		"tls-cert": "GATEHOUSE_PDP_TLS_CERT", "tls-key": "GATEHOUSE_PDP_TLS_KEY",
		"admin-addr": "GATEHOUSE_PDP_ADMIN_ADDR", "memory-limit": "GATEHOUSE_PDP_MEMORY_LIMIT"} {
		annotateEnv(cmd, flag, env)
	}
	return cmd
}
