package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
)

// Secrets the server must read back (signing keys, webhook secrets) are
// sealed with the instance's secret key before they are written, and opened
// when read; the key is never in the database. Values an older version
// stored in clear are sealed at start (SealSecrets), except signing keys,
// which the apikey service retires instead (a key that was once in clear
// may be in an old backup).

// SetSecrets gives the store the ring that seals and opens secrets. It must
// be called before the store reads or writes any.
func (db *DB) SetSecrets(r *secretkey.Ring) { db.secrets = r }

// Secrets is the ring SetSecrets gave.
func (db *DB) Secrets() *secretkey.Ring { return db.secrets }

// errNoRing is a programming error: a secret was touched before SetSecrets.
var errNoRing = errors.New("store: no secret key ring (SetSecrets was not called)")

// seal seals a secret for where ("table.column:id").
func (s *Store) seal(v, where string) (string, error) {
	if v == "" {
		return "", nil
	}
	if s.db.secrets == nil {
		return "", errNoRing
	}
	return s.db.secrets.SealString(v, where), nil
}

// open opens a sealed secret. A value in clear (from before secrets were
// sealed) is returned as is until SealSecrets seals it.
func (s *Store) open(v, where string) (string, error) {
	if v == "" || !secretkey.IsSealed(v) {
		return v, nil
	}
	if s.db.secrets == nil {
		return "", errNoRing
	}
	out, err := s.db.secrets.OpenString(v, where)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", where, err)
	}
	return out, nil
}

// sealedColumn is a column holding sealed secrets, keyed by id.
type sealedColumn struct {
	table, column string
	// clearToo: values in clear are sealed too (not so for signing keys,
	// which are retired rather than sealed).
	clearToo bool
}

var sealedColumns = []sealedColumn{
	{"signing_keys", "private_key", false},
	{"webhook_endpoints", "secret", true},
	{"webhook_endpoints", "previous_secret", true},
}

func sealedAt(c sealedColumn, id string) string { return c.table + "." + c.column + ":" + id }

// SealReport counts what SealSecrets found and did.
type SealReport struct {
	// Sealed values were in clear and are now sealed.
	Sealed int
	// Resealed values were sealed with an older key and are now sealed
	// with the primary one (only when resealing).
	Resealed int
	// Current values were already sealed with the primary key.
	Current int
}

// SealSecrets seals, in one transaction, every secret an older version
// stored in clear and, with reseal, re-seals every value sealed with
// another key of the ring with its primary key (a rotation). It fails
// without changing anything when a value was sealed with a key the ring
// lacks.
func (db *DB) SealSecrets(ctx context.Context, reseal bool) (SealReport, error) {
	var rep SealReport
	if db.secrets == nil {
		return rep, errNoRing
	}
	primary := db.secrets.Primary().ID()
	err := db.Store().InTx(ctx, func(tx *Store) error {
		for _, c := range sealedColumns {
			type change struct{ id, value string }
			var changes []change
			rows, err := tx.tx.QueryContext(ctx, "SELECT id, "+c.column+" FROM "+c.table+" WHERE "+c.column+" <> ''")
			if err != nil {
				return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
			}
			for rows.Next() {
				var id, v string
				if err := rows.Scan(&id, &v); err != nil {
					rows.Close()
					return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
				}
				w := sealedAt(c, id)
				switch by := secretkey.SealedBy(v); {
				case by == "" && c.clearToo:
					changes = append(changes, change{id, db.secrets.SealString(v, w)})
					rep.Sealed++
				case by == "":
				case by == primary:
					rep.Current++
				default:
					plain, err := db.secrets.OpenString(v, w)
					if err != nil {
						rows.Close()
						return fmt.Errorf("%s of %s %s: %w", c.column, c.table, id, err)
					}
					if reseal {
						changes = append(changes, change{id, db.secrets.SealString(plain, w)})
						rep.Resealed++
					}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
			}
			for _, ch := range changes {
				if _, err := tx.tx.ExecContext(ctx, "UPDATE "+c.table+" SET "+c.column+" = $1 WHERE id = $2", ch.value, ch.id); err != nil {
					return fmt.Errorf("seal %s.%s: %w", c.table, c.column, err)
				}
			}
		}
		return nil
	})
	return rep, err
}
