package envelope_test

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/envelope"
)

// The shapes every API answers in, byte for byte but for the time.
func TestShapes(t *testing.T) {
	stamp := regexp.MustCompile(`"timestamp":"[^"]+"`)
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"error", envelope.Error("r1", "NOT_FOUND", "no such thing", nil),
			`{"status":"error","error":{"code":"NOT_FOUND","message":"no such thing"},"meta":{"request_id":"r1","timestamp":"T"}}`},
		{"error with details", envelope.Error("r2", "INVALID_REQUEST", "bad", map[string]any{"field": "user"}),
			`{"status":"error","error":{"code":"INVALID_REQUEST","message":"bad","details":{"field":"user"}},"meta":{"request_id":"r2","timestamp":"T"}}`},
		{"success", envelope.Success("r3", map[string]bool{"allow": true}),
			`{"status":"success","data":{"allow":true},"meta":{"request_id":"r3","timestamp":"T"}}`},
	} {
		b, err := json.Marshal(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		if got := stamp.ReplaceAllString(string(b), `"timestamp":"T"`); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
