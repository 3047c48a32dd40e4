package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// importRows writes an import of users×tenants role assignments (and the
// users and tenants themselves) to w.
func importRows(w io.Writer, users, tenants int) {
	bw := bufio.NewWriterSize(w, 1<<20)
	for t := 0; t < tenants; t++ {
		fmt.Fprintf(bw, `{"type":"tenant","key":"t%d"}`+"\n", t)
	}
	for u := 0; u < users; u++ {
		fmt.Fprintf(bw, `{"type":"user","key":"u%d","email":"u%d@example.com"}`+"\n", u, u)
	}
	for u := 0; u < users; u++ {
		for t := 0; t < tenants; t++ {
			fmt.Fprintf(bw, `{"type":"role_assignment","user":"u%d","role":"viewer","tenant":"t%d"}`+"\n", u, t)
		}
	}
	bw.Flush()
}

// BenchmarkImport imports 1,000,000 role assignments (10,000 users × 100
// tenants, plus the users and tenants) on the embedded default, from the
// upload to the job's end, and reports rows/s and the process's peak
// memory. Run it alone, once:
//
//	go test ./internal/app -run XXX -bench 'Import$' -benchtime 1x
//
// GATEHOUSE_BENCH_IMPORT_USERS changes the number of users (rows = users ×
// 101 + 100).
func BenchmarkImport(b *testing.B) {
	users := 10000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_IMPORT_USERS")); err == nil && v > 0 {
		users = v
	}
	const tenants = 100
	rows := users*tenants + users + tenants
	file := b.TempDir() + "/import.jsonl"
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	importRows(f, users, tenants)
	f.Close()
	for b.Loop() {
		cfg := config.Default()
		cfg.DataDir = b.TempDir()
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		res, err := a.Init(context.Background(), app.DefaultInitOptions())
		if err != nil {
			b.Fatal(err)
		}
		ts := httptest.NewServer(a.Handler())
		env := "?project=default&environment=development"
		for _, c := range []struct{ path, body string }{
			{"/v1/resources", `{"key":"document","actions":["read"]}`},
			{"/v1/roles", `{"key":"viewer","permissions":["document:read"]}`},
		} {
			if st, out := call(b, "POST", ts.URL+c.path+env, res.Token, c.body); st != 201 {
				b.Fatalf("%s: %d %v", c.path, st, out)
			}
		}
		var peak uint64
		stop := make(chan struct{})
		go func() { // sample the heap while the import runs
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		body, _ := os.Open(file)
		r, _ := http.NewRequest("POST", ts.URL+"/v1/jobs/import"+env+"&batch_size=10000", body)
		r.Header.Set("Authorization", "Bearer "+res.Token)
		r.Header.Set("Content-Type", "application/x-ndjson")
		hr, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		body.Close()
		if hr.StatusCode != 201 {
			b.Fatalf("import: %d %s", hr.StatusCode, raw)
		}
		uploaded := time.Since(start)
		id := strings.SplitN(strings.SplitN(string(raw), `"id":"`, 2)[1], `"`, 2)[0]
		var status string
		for {
			_, out := call(b, "GET", ts.URL+"/v1/jobs/"+id, res.Token, "")
			status = out["data"].(map[string]any)["status"].(string)
			if status != "queued" && status != "running" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		took := time.Since(start)
		close(stop)
		if status != "succeeded" {
			b.Fatalf("import ended %s", status)
		}
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(uploaded.Seconds(), "upload-s")
		b.ReportMetric(took.Seconds(), "total-s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		if hwm := vmHWM(); hwm > 0 {
			b.ReportMetric(hwm, "peak-rss-MiB")
		}
		ts.Close()
		a.Close()
	}
}

// vmHWM is the process's peak resident memory in MiB (Linux), or 0.
func vmHWM() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
