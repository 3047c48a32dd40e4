package client

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// BenchmarkDecodeSnapshot compares decodeSnapshot with decoding the whole
// answer at once (what Client.Snapshot did before), on dataset M (100k
// assignments): time, bytes allocated and the live heap of the result.
func BenchmarkDecodeSnapshot(b *testing.B) {
	d := authztest.Generate(authztest.Medium, 1).Data
	text, err := json.Marshal(map[string]any{"status": "success", "data": Snapshot{Seq: 1, DataFormat: authz.DataFormat, Data: d}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Snapshot
			env := struct {
				Data any `json:"data"`
			}{Data: &s}
			if err := json.NewDecoder(bytes.NewReader(text)).Decode(&env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeSnapshot(bytes.NewReader(text)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
