package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/status"
)

// TestStatusSamplerOneNodeAtATime: on two nodes sharing a PostgreSQL
// database, a node skips the status sampling round while another holds
// its lock, and the rounds of both nodes within one interval (their
// start-up rounds and any more) count one sample, not one per node.
func TestStatusSamplerOneNodeAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.StatusSampleEvery = time.Hour
	n := twoNodesWith(t, cfg)

	unlock := holdLock(t, n.b.DB, app.LockStatusSampler)
	for _, a := range []*app.App{n.a, n.b} {
		if sampled, err := a.StatusRound(ctx); err != nil || sampled {
			t.Fatalf("a status round sampled while another node held its lock: sampled=%v err=%v", sampled, err)
		}
	}
	unlock()
	for range 3 {
		for _, a := range []*app.App{n.a, n.b} {
			if _, err := a.StatusRound(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, err := n.a.Status.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Components) != 5 {
		t.Fatalf("components: %+v", o.Components)
	}
	// One sample per component for the hour, whatever the nodes. What it
	// says is the node's health at that moment (a ping over 2 s on a busy
	// machine samples checks as degraded), which this test does not set.
	for _, c := range o.Components {
		if today := c.Days[status.Window-1]; today.Total() != 1 {
			t.Fatalf("%s: %s, today %+v: want one sample for the hour, whatever the nodes", c.Name, c.State, today)
		}
	}
}
