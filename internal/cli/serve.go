package cli

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

func serveCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server",
		Long: `Run the API server. With no flags it listens on 127.0.0.1:8080 and keeps its data in an
embedded SQLite database under ./gatehouse-data. On an empty database it first creates an
organization and prints an organization API key holding every scope (shown once).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log := newLogger(*cfg, stderr)
			a, err := app.New(ctx, *cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			if cfg.AutoInit {
				res, err := a.Init(ctx, app.DefaultInitOptions())
				if err != nil {
					return fmt.Errorf("init: %w", err)
				}
				if res.Created {
					printInit(stdout, res, "text", cfg.PublicBase(cfg.Addr))
				}
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			base := cfg.PublicBase(ln.Addr().String())
			log.Info("gatehouse listening", "addr", ln.Addr().String(), "url", base, "database", a.DB.Engine, "docs", base+"/docs")
			return a.Serve(ctx, ln)
		},
	}
	return cmd
}
