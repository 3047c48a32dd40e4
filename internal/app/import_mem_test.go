package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// genReader produces an import file of n bytes or more, row by row, without
// holding it: head, then row(i) for i = 0, 1, … until n bytes are out.
type genReader struct {
	head string
	row  func(i int) string
	n    int64

	i    int
	out  int64
	rest string
	done bool
}

func (g *genReader) Read(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if g.rest == "" {
			switch {
			case g.head != "":
				g.rest, g.head = g.head, ""
			case g.done || g.out >= g.n:
				g.done = true
				if written == 0 {
					return 0, io.EOF
				}
				return written, nil
			default:
				g.rest = g.row(g.i)
				g.i++
			}
		}
		c := copy(p[written:], g.rest)
		g.rest = g.rest[c:]
		written += c
		g.out += int64(c)
	}
	return written, nil
}

// heapPeak samples the heap's objects (allocated and not yet freed) every
// few milliseconds until stop is called, and returns their peak above what
// there was at the start (after a collection). The collector runs more
// often meanwhile (GOGC=25), so that the peak is what the import holds,
// not garbage waiting for a collection.
func heapPeak() (stop func() uint64) {
	gogc := debug.SetGCPercent(25)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(gogc)
		return max(peak, base) - base
	}
}

const mib = 1 << 20

// memServer is an initialized server whose development environment has the
// model the generated rows use.
func memServer(t *testing.T, cfg config.Config) (base, key string) {
	t.Helper()
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() { ts.Close(); a.Close() })
	return ts.URL, res.Token
}

// upload streams body to POST /v1/jobs/import.
func upload(t *testing.T, url, key, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest("POST", url, body)
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", ctype)
	res, err := (&http.Client{Timeout: 5 * time.Minute}).Do(r)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%d %s", res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// wideRows are users with 100 KB of attributes each; their keys repeat (20
// users), so that what the environment holds stays the same whatever the
// file's size: only the import's own memory can grow with it.
func wideRows(size int64) *genReader {
	blob := strings.Repeat("x", 100_000)
	return &genReader{n: size, row: func(i int) string {
		return fmt.Sprintf(`{"type":"user","key":"u%d","email":"u%d@example.com","attributes":{"blob":"%s"}}`+"\n", i%20, i%20, blob)
	}}
}

// ci: norace
// TestImportMemoryDoesNotGrowWithTheFile imports a small and a large file
// end to end (upload, check, spool, tasks stored, every task applied) and
// samples the heap all along: its peak must stay under a fixed bound, the
// same for both files. (The import used to keep a whole batch of rows in
// memory, several times over: a file of wide rows was held whole.)
//
// Not parallel: it samples the whole process's heap.
func TestImportMemoryDoesNotGrowWithTheFile(t *testing.T) {
	small, large := int64(8*mib), int64(48*mib)
	if raceEnabled {
		small, large = 2*mib, 16*mib // the race detector makes it slower, not bigger
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	base, key := memServer(t, cfg)
	peaks := map[int64]uint64{}
	for _, size := range []int64{small, large} {
		stop := heapPeak()
		start := time.Now()
		st, out := upload(t, base+"/v1/jobs/import"+devQ, key, "application/x-ndjson", wideRows(size))
		if st != 201 {
			stop()
			t.Fatalf("import of %d MiB: %d %v", size/mib, st, out)
		}
		uploaded := time.Since(start)
		j := waitJob(t, base, key, out["data"].(map[string]any)["id"].(string))
		peaks[size] = stop()
		t.Logf("uploaded in %s", uploaded.Round(time.Millisecond))
		if j["status"] != "succeeded" {
			t.Fatalf("import of %d MiB: %v", size/mib, j)
		}
		t.Logf("%d MiB file (%v tasks): peak heap %.1f MiB, %s", size/mib, j["progress"].(map[string]any)["total_tasks"],
			float64(peaks[size])/mib, time.Since(start).Round(time.Millisecond))
	}
	if p := peaks[large]; p > 48*mib {
		t.Errorf("importing a %d MiB file took %.1f MiB of heap; the bound is 48 MiB", large/mib, float64(p)/mib)
	}
	if d := int64(peaks[large]) - int64(peaks[small]); d > 16*mib {
		t.Errorf("the peak heap grew by %.1f MiB from a %d MiB to a %d MiB file: it must not grow with the file",
			float64(d)/mib, small/mib, large/mib)
	}
}

// ci: norace
// TestImportRefusesHugeRowsWithoutHoldingThem: one huge CSV cell, or one
// huge line of JSON Lines, is refused (400, naming its line and the limit)
// without ever being held in memory, on both engines.
//
// Not parallel: it samples the whole process's heap.
func TestImportRefusesHugeRowsWithoutHoldingThem(t *testing.T) {
	huge := 150 * mib
	if raceEnabled {
		huge = 48 * mib
	}
	cells := func() io.Reader { // a user row whose first_name is huge, then a good row
		return io.MultiReader(strings.NewReader("key,email,first_name\nada,ada@example.com,\""),
			&genReader{n: int64(huge), row: func(int) string { return strings.Repeat("a", 4096) }},
			strings.NewReader("\"\nbob,bob@example.com,Bob\n"))
	}
	line := func() io.Reader {
		return io.MultiReader(strings.NewReader(`{"type":"user","key":"ok"}`+"\n"+`{"type":"user","key":"ada","attributes":{"blob":"`),
			&genReader{n: int64(huge), row: func(int) string { return strings.Repeat("a", 4096) }},
			strings.NewReader(`"}}`+"\n"+`{"type":"user","key":"bob"}`+"\n"))
	}
	for _, eng := range engines(t) {
		t.Run(eng.name, func(t *testing.T) {
			base, key := memServer(t, eng.cfg(t))
			for _, tc := range []struct {
				name, query, ctype string
				body               func() io.Reader
				want               string
			}{
				{"csv cell", "&type=users", "text/csv", cells, "column first_name: a cell is longer than 262144 bytes (the limit of a cell)"},
				{"json line", "", "application/x-ndjson", line, "a line is longer than 1048576 bytes (the limit of a row)"},
			} {
				stop := heapPeak()
				st, out := upload(t, base+"/v1/jobs/import"+devQ+tc.query, key, tc.ctype, tc.body())
				peak := stop()
				e, _ := out["error"].(map[string]any)
				if st != 400 || e == nil {
					t.Fatalf("%s: %d %v", tc.name, st, out)
				}
				errs := e["details"].(map[string]any)["errors"].([]any)
				first := errs[0].(map[string]any)
				if len(errs) != 1 || first["line"] != 2.0 || first["message"] != tc.want || !strings.Contains(e["message"].(string), "line 2") {
					t.Errorf("%s: %v", tc.name, e)
				}
				t.Logf("%s of %d MiB: peak heap %.1f MiB", tc.name, huge/mib, float64(peak)/mib)
				if peak > 48*mib {
					t.Errorf("%s: a %d MiB row took %.1f MiB of heap; the bound is 48 MiB", tc.name, huge/mib, float64(peak)/mib)
				}
			}
			if _, out := call(t, "GET", base+"/v1/jobs", key, ""); out["meta"].(map[string]any)["total_items"] != 0.0 {
				t.Errorf("refused files made jobs: %v", out)
			}
		})
	}
}
