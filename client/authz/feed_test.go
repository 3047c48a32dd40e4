package authz_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// A feed entry travels as {seq, op, data, created_at}: the change stream's
// "change" events, read by every follower.
func TestFeedEntryWire(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := authz.FeedEntry{Seq: 7, Change: authz.Change{Op: authz.OpPutUser, Data: json.RawMessage(`{"key":"ann"}`)}, CreatedAt: at}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"seq":7,"op":"put_user","data":{"key":"ann"},"created_at":"2026-01-02T03:04:05Z"}`
	if string(b) != want {
		t.Fatalf("wire form %s, want %s", b, want)
	}
	var back authz.FeedEntry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	eng := authz.New()
	if err := back.Apply(eng); err != nil {
		t.Fatal(err)
	}
	if back.Seq != 7 || !back.CreatedAt.Equal(at) || eng.Stats().Users != 1 {
		t.Fatalf("read back %+v, engine %+v", back, eng.Stats())
	}
}
