package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/spf13/cobra"
)

// secretKeyCmd is the secret-key group and, for its database flags, its
// rotate command.
func secretKeyCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) (group, rotate *cobra.Command) {
	cmd := &cobra.Command{
		Use:   "secret-key",
		Short: "Make or rotate the secret key that encrypts secrets at rest",
		Long: `Gatehouse encrypts the secrets it must read back (the API keys' signing keys, webhook signing
secrets) with a secret key kept outside the database, so that a copy of the database reveals no
credential. The embedded default keeps it in <data-dir>/secret.key (mode 0600, made on first
start); PostgreSQL deployments give every node the same key in GATEHOUSE_SECRET_KEY or a file
named by --secret-key-file. Back the key up apart from the database: without it the signing
keys and webhook secrets cannot be read.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Print a new random secret key (for GATEHOUSE_SECRET_KEY or a key file)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			k, err := secretkey.Generate()
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, k.Encode())
			return nil
		},
	})
	rotate = &cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every secret in the database with a new secret key",
		Long: `Re-encrypt every secret in the database with the secret key, in one transaction.

Embedded default (no key configured): makes a new key, re-encrypts, and replaces
<data-dir>/secret.key with it. Stop gatehouse serve first (the data folder is locked while it
runs). If it is cut off, run it again: the server starts meanwhile.

Configured key (PostgreSQL): configure the new key as the secret key and the old one as the
previous key on every node (GATEHOUSE_PREVIOUS_SECRET_KEY or --previous-secret-key-file) and
restart them, run this once with the same settings, then remove the previous key.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			res, err := app.RotateSecretKey(ctx, *cfg, newLogger(*cfg, stderr))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "re-encrypted %d secrets with key %s (%d were in clear and are now encrypted; %d already used it)\n",
				res.Resealed+res.Sealed, res.KeyID, res.Sealed, res.Current)
			if res.NewKeyFile != "" {
				fmt.Fprintf(stdout, "the new key is in %s: back it up; the old key is no longer needed\n", res.NewKeyFile)
			} else {
				fmt.Fprintln(stdout, "the previous key is no longer needed: remove it from every node's settings")
			}
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd, rotate
}
