package memory

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"off", 0, false},
		{"100MiB", 100 << 20, false}, {"1GiB", 1 << 30, false}, {"512KiB", 512 << 10, false},
		{"64MB", 64_000_000, false}, {"2GB", 2_000_000_000, false}, {"1KB", 1000, false},
		{"123456789", 123456789, false}, {"100B", 100, false}, {" 80 MiB ", 80 << 20, false},
		{"-1MiB", 0, true}, {"1.5GiB", 0, true}, {"lots", 0, true}, {"MiB", 0, true}, {"100TB", 0, true},
		{"99999999999GiB", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestFormatSizeReadsBack(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1 << 10, 100 << 20, 3 << 30, 100<<20 + 1} {
		s := FormatSize(n)
		got, err := ParseSize(s)
		if err != nil || got != n {
			t.Errorf("FormatSize(%d) = %q, read back as %d, %v", n, s, got, err)
		}
	}
	if s := FormatSize(100 << 20); s != "100MiB" {
		t.Errorf("FormatSize(100MiB) = %q", s)
	}
}

func TestSetLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	if err := SetLimit(0); err != nil || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("SetLimit(0) changed the limit or failed: %v", err)
	}
	if err := SetLimit(1 << 20); err == nil {
		t.Fatal("a 1 MiB limit was accepted")
	}
	if err := SetLimit(200 << 20); err != nil || debug.SetMemoryLimit(-1) != 200<<20 {
		t.Fatalf("SetLimit(200MiB): %v, limit %d", err, debug.SetMemoryLimit(-1))
	}
}

func TestReleaseIsRateLimited(t *testing.T) {
	released.Lock()
	released.at = released.at.AddDate(-1, 0, 0) // long ago (or never)
	released.Unlock()
	if !Release() {
		t.Fatal("the first release did not run")
	}
	if Release() {
		t.Fatal("a second release within a minute ran")
	}
}

func TestReleaseSoonRunsAfterARecentRelease(t *testing.T) {
	released.Lock()
	released.at = time.Now() // a release just ran
	released.Unlock()
	before := released.at
	ReleaseSoon()
	ReleaseSoon() // shares the pending one
	if !pending.Load() {
		t.Fatal("no release is pending")
	}
	testwait.Until(t, 3*SoonGap, "the pending release to run", func() bool { return !pending.Load() })
	released.Lock()
	at := released.at
	released.Unlock()
	if gap := at.Sub(before); gap < SoonGap {
		t.Fatalf("the release ran %v after the previous one, want at least %v", gap, SoonGap)
	}
}
