package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSQLiteShrinksAfterRetention: a new embedded database is in
// incremental auto-vacuum mode, and after retention deletes most of the
// log, ReclaimSpace gives the freed pages back: the file shrinks.
func TestSQLiteShrinksAfterRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	db, err := store.OpenLogSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logs := db.LogStore()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	body := strings.Repeat("x", 2000)
	for b := 0; b < 20; b++ {
		var calls []apilog.Call
		for i := 0; i < 250; i++ {
			n := b*250 + i
			calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%05d", n), OrganizationID: "org1", Time: base.Add(time.Duration(n) * time.Second),
				Method: "POST", Path: "/v1/users", Status: 201, RequestBody: body, ResponseBody: body})
		}
		if err := logs.WriteAPILog(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		t.Helper()
		// The WAL is folded into the file first, as a checkpoint would.
		if _, err := db.ReclaimSpace(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	full := size()
	n, err := logs.PruneAPILog(ctx, "org1", base.Add(4500*time.Second))
	if err != nil || n != 4500 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	freed, err := db.ReclaimSpace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := size()
	t.Logf("log file %d bytes full, %d after pruning 90%% (%d bytes reclaimed)", full, after, freed)
	if freed == 0 || after > full/3 {
		t.Fatalf("the file did not shrink: %d bytes before, %d after (%d reclaimed)", full, after, freed)
	}
}
