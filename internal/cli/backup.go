package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/spf13/cobra"
)

func backupCmd(ctx context.Context, cfg *config.Config, stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Copy the embedded SQLite databases into a folder, while the server runs",
		Long: `Copy the embedded SQLite databases (--data-dir's gatehouse.db and logs.db) into the folder
--out, each a consistent copy made with SQLite's VACUUM INTO. The server may keep running: the copy
reads through its own read-only connection. The secret key (secret.key) is not copied: back it up
apart from the databases (see docs/operations.md). To restore, stop the server, put the two files
and the secret key in an empty data folder and start it. On PostgreSQL use pg_dump instead.`,
		Example: `  gatehouse backup --data-dir /var/lib/gatehouse --out /backups/gatehouse-$(date +%F)`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if cfg.IsPostgres() {
				return fmt.Errorf("backup copies the embedded SQLite databases; on PostgreSQL use pg_dump -Fc (see docs/operations.md)")
			}
			if out == "" {
				return fmt.Errorf("--out is required: a folder for the copies (made if missing, files in it must not exist yet)")
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			for _, src := range []string{cfg.SQLitePath(), cfg.LogSQLitePath()} {
				dst := filepath.Join(out, filepath.Base(src))
				if err := store.BackupSQLite(ctx, src, dst); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s -> %s\n", src, dst)
			}
			fmt.Fprintln(stdout, "The secret key is not in the copy: keep a copy of it apart (--secret-key-file, GATEHOUSE_SECRET_KEY or <data-dir>/secret.key).")
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the `DIR` to write gatehouse.db and logs.db into")
	return cmd
}
