package cli

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
	"github.com/spf13/cobra"
)

func serveCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server",
		Long: `Run the API server. With no flags it listens on 127.0.0.1:8080 and keeps its data in an
embedded SQLite database under ./gatehouse-data. Once it holds its port, on an empty database it
creates an organization and prints an organization API key holding every scope (shown once);
if the port is taken it stops before creating anything.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log := newLogger(*cfg, stderr)
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			// The process's, not the App's (tests run several in one).
			if err := memory.SetLimit(cfg.MemoryLimit); err != nil {
				return fmt.Errorf("config: memory-limit: %w", err)
			}
			if cfg.MemoryLimit > 0 {
				log.Info("memory limit", "limit", memory.FormatSize(cfg.MemoryLimit))
			}
			tc, err := cmdkit.LoadTLS(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return err
			}
			for _, f := range []string{cfg.TLSKey, cfg.OIDCClientSecretFile} {
				if open := cmdkit.OpenKeyFile(f); open != "" {
					log.Warn("a secret file is open to other users", "problem", open)
				}
			}
			// The port first: a clash must end the run before anything is
			// created, or the first key, printed once, would be lost with it.
			plain, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			defer plain.Close() // on the way out before Serve, which closes it too
			ln := cmdkit.WithTLS(plain, tc)
			var adminLn net.Listener
			if cfg.AdminAddr != "" {
				if adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
					return fmt.Errorf("admin listen: %w", err)
				}
				defer adminLn.Close()
			}
			// The address really listened on (":0" picks a port): the base of
			// the links and of the apiUrl shown when no public URL is set.
			run := *cfg
			run.Addr = plain.Addr().String()
			a, err := app.New(ctx, run, log)
			if err != nil {
				return err
			}
			defer a.Close()
			base := cfg.PublicBase(ln.Addr().String())
			if cfg.AutoInit {
				res, err := a.Init(ctx, app.DefaultInitOptions())
				if err != nil {
					return fmt.Errorf("init: %w", err)
				}
				if res.Created {
					printInit(stdout, res, "text", base, cfg.Region, cfg.APIURL(ln.Addr().String()))
				}
			}
			if adminLn != nil {
				ctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				defer func() { cancel(); <-done }()
				go func() {
					defer close(done)
					if err := a.ServeAdmin(ctx, adminLn); err != nil {
						log.Error("admin listener stopped", "err", err)
					}
				}()
				addr := adminLn.Addr().String()
				if host, _, _ := net.SplitHostPort(addr); !net.ParseIP(host).IsLoopback() {
					log.Warn("the admin listener is not on loopback and asks for no credentials: keep its port off the internet", "admin_addr", addr)
				}
				log.Info("admin listener", "addr", addr, "metrics", "http://"+addr+"/metrics", "pprof", "http://"+addr+"/debug/pprof/")
			}
			attrs := []any{"addr", ln.Addr().String(), "url", base, "database", a.DB.Engine, "docs", base + "/docs", "tls", tc != nil}
			if cfg.Region != "" {
				attrs = append(attrs, "region", cfg.Region, "api_url", cfg.APIURL(ln.Addr().String()))
			}
			log.Info("gatehouse listening", attrs...)
			return a.Serve(ctx, ln)
		},
	}
	return cmd
}
