// Package idempotency makes a retried POST safe: the first request with an
// Idempotency-Key runs, and a retry with the same key and the same request
// within 24 hours gets the first response again instead of running twice
// (Stripe's rule). The same key with a different request is a CONFLICT.
// Keys are kept per caller (an API key, within its organization), as a
// hash: another caller's retry with the same Idempotency-Key runs as a
// request of its own (through the gate, which judges its rights) and never
// gets the first caller's answer. The kept response is sealed
// with a key derived from the instance's secret key and the Idempotency-Key
// itself, so that the database alone never reveals it (it may carry a new
// API key's token).
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// ReplayedHeader is set on an answer that replays the first one.
const ReplayedHeader = "Idempotent-Replayed"

// TTL is how long a key is remembered.
const TTL = 24 * time.Hour

// Lease is how long a request in progress holds its key: a retry after it
// (the first request's node died) runs again.
const Lease = 90 * time.Second

// MaxKeyLength bounds an Idempotency-Key.
const MaxKeyLength = 255

// States of a record.
const (
	StateRunning = "running"
	StateDone    = "done"
)

// Record is a remembered request and, once done, its answer.
type Record struct {
	OrgID string
	// KeyHash is the SHA-256 of the Idempotency-Key.
	KeyHash string
	// Fingerprint is the SHA-256 of the method, path, query and body.
	Fingerprint string
	State       string
	Status      int
	// Answer is the sealed answer (headers and body).
	Answer string
	// SealedBy is the id of the secret key the answer's key derives from.
	SealedBy  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps records.
type Store interface {
	// ClaimIdempotency inserts r unless a live record of its key exists
	// (not expired; running within its lease), which it returns instead.
	ClaimIdempotency(ctx context.Context, r *Record, leaseBefore time.Time) (existing *Record, err error)
	// CompleteIdempotency stores the answer of a claimed record.
	CompleteIdempotency(ctx context.Context, r *Record) error
	// ReleaseIdempotency forgets a claimed record (its request left nothing
	// to replay: a server error, a refusal a retry may pass).
	ReleaseIdempotency(ctx context.Context, orgID, keyHash string) error
	PruneIdempotency(ctx context.Context, before time.Time) (int64, error)
}

// Service applies the rules.
type Service struct {
	store Store
	ring  *secretkey.Ring
	now   func() time.Time
}

// NewService returns a Service.
func NewService(st Store, ring *secretkey.Ring) *Service {
	return &Service{store: st, ring: ring, now: time.Now}
}

// Answer is what a replay sends back: the first answer and what the API
// log needs to record it as its operation.
type Answer struct {
	Status  int
	Header  http.Header
	Body    []byte
	Route   string          `json:"route"`
	Secrets *apilog.Secrets `json:"secrets,omitempty"`
}

// Valid reports whether key is an acceptable Idempotency-Key.
func Valid(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return gatehouse.FieldError(Header, "invalid_value", "the %s header must be 1 to %d characters", Header, MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return gatehouse.FieldError(Header, "invalid_value", "the %s header must be printable ASCII without spaces (a UUID, say)", Header)
		}
	}
	return nil
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Outcome is what Begin decided.
type Outcome struct {
	// Run: run the request, then call Finish (or Abandon).
	Run bool
	// Replay is the first request's answer.
	Replay *Answer
	rec    *Record
	key    string
}

// Begin claims key for the request (method, target, body) of caller (who
// calls: "key:<id>") in orgID, or finds the answer to replay. A different
// request with the same key, or the same one still running, is a
// CONFLICT.
func (s *Service) Begin(ctx context.Context, orgID, caller, key, method, target string, body []byte) (*Outcome, error) {
	now := s.now().UTC()
	r := &Record{OrgID: orgID, KeyHash: hash(orgID, caller, key), Fingerprint: hash(method, target, string(body)), State: StateRunning,
		CreatedAt: now, ExpiresAt: now.Add(TTL)}
	existing, err := s.store.ClaimIdempotency(ctx, r, now.Add(-Lease))
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return &Outcome{Run: true, rec: r, key: key}, nil
	}
	if existing.Fingerprint != r.Fingerprint {
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict,
			Message: "this Idempotency-Key was used for a different request (method, path or body) in the last 24 hours: use a new key for a new request",
			Details: map[string]any{"field": Header, "reason": "reused_with_different_request"}}
	}
	if existing.State != StateDone {
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict,
			Message: "a request with this Idempotency-Key is still in progress: retry in a moment",
			Details: map[string]any{"field": Header, "reason": "in_progress"}}
	}
	a, err := s.open(existing, key)
	if err != nil {
		return nil, err
	}
	return &Outcome{Replay: a}, nil
}

// keep reports whether an answer is kept for retries: what a retry would
// change (a refusal for the key's rights or its rate, a server error) is
// not.
func keep(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusRequestTimeout:
		return false
	}
	return status < 500
}

// Finish keeps the answer of a request Begin let run (or forgets the key
// when the answer is not one to replay).
func (s *Service) Finish(ctx context.Context, o *Outcome, a *Answer) error {
	if !keep(a.Status) {
		return s.Abandon(ctx, o)
	}
	plain, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("idempotency: %w", err)
	}
	k, _ := s.ring.Derive("", "idempotency:"+o.rec.OrgID+":"+o.key)
	r, err := secretkey.NewRing(k)
	if err != nil {
		return err
	}
	o.rec.State, o.rec.Status = StateDone, a.Status
	o.rec.Answer, o.rec.SealedBy = r.Seal(plain, "idempotency:"+o.rec.KeyHash), s.ring.Primary().ID()
	return s.store.CompleteIdempotency(ctx, o.rec)
}

// Abandon forgets the key of a request Begin let run: a retry runs again.
func (s *Service) Abandon(ctx context.Context, o *Outcome) error {
	return s.store.ReleaseIdempotency(ctx, o.rec.OrgID, o.rec.KeyHash)
}

func (s *Service) open(r *Record, key string) (*Answer, error) {
	k, ok := s.ring.Derive(r.SealedBy, "idempotency:"+r.OrgID+":"+key)
	if !ok {
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict,
			Message: "the first answer to this Idempotency-Key was kept under a secret key this server no longer has (it was rotated); use a new Idempotency-Key after checking whether the first request took effect",
			Details: map[string]any{"field": Header, "reason": "answer_unreadable"}}
	}
	ring, err := secretkey.NewRing(k)
	if err != nil {
		return nil, err
	}
	plain, err := ring.Open(r.Answer, "idempotency:"+r.KeyHash)
	if err != nil {
		return nil, fmt.Errorf("idempotency: open the kept answer: %w", err)
	}
	var a Answer
	if err := json.Unmarshal(plain, &a); err != nil {
		return nil, fmt.Errorf("idempotency: the kept answer: %w", err)
	}
	return &a, nil
}

// Prune forgets expired keys.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	return s.store.PruneIdempotency(ctx, s.now().UTC())
}
