package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// scaleName is "" for dataset M itself, else "×N".
func scaleName(n int) string {
	if n == 1 {
		return ""
	}
	return "×" + strconv.Itoa(n)
}

// memoryReport (-memory) saves e's heap profile (inuse_space, after a
// collection) under dir and logs where its resident memory goes: the
// kernel's split (anonymous, file pages of the binary, shared) and the Go
// runtime's (heap in use, heap returned to the OS but still mapped,
// stacks, the runtime's own structures). What neither accounts for is
// memory the Go runtime does not manage (none in a pure-Go build) or
// heap freed but not yet returned.
func memoryReport(ctx context.Context, client *http.Client, dir string, e *engine) error {
	name := "server"
	switch {
	case strings.HasPrefix(e.name, "gatehouse pdp"):
		name = "pdp"
	case strings.HasPrefix(e.name, "gatehouse-pdp"):
		name = "gatehouse-pdp"
	}
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.adminURL+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return b, err
	}
	// The kernel's figures before anything is asked of the process.
	var kern []string
	for _, f := range []string{"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"} {
		v, err := memOf(e.proc.PID(), f)
		if err != nil {
			return err
		}
		kern = append(kern, fmt.Sprintf("%s %.1f", f, float64(v)/1e6))
	}
	// The text form first: its runtime.MemStats are read before the
	// profile's collection (gc=1) changes them.
	text, err := get("/debug/pprof/heap?debug=1")
	if err != nil {
		return fmt.Errorf("%s heap profile: %w", e.name, err)
	}
	prof, err := get("/debug/pprof/heap?gc=1")
	if err != nil {
		return fmt.Errorf("%s heap profile: %w", e.name, err)
	}
	path := filepath.Join(dir, name+".heap.pb.gz")
	if err := os.WriteFile(path, prof, 0o600); err != nil {
		return err
	}
	ms := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			if k, v, ok := strings.Cut(rest, " = "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					ms[k] = n
				}
			}
		}
	}
	mb := func(k string) string { return fmt.Sprintf("%s %.1f", k, float64(ms[k])/1e6) }
	logf("memory of %s (MB): %s | Go: %s, %s, %s, %s, %s, %s | heap profile %s (go tool pprof -sample_index=inuse_space -top %s)",
		strings.TrimSpace(e.name), strings.Join(kern, ", "),
		mb("HeapInuse"), mb("HeapIdle"), mb("HeapReleased"), mb("StackInuse"), mb("Sys"), mb("NextGC"), path, path)
	return nil
}
