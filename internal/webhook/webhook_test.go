package webhook

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Vectors computed outside Go (Python's hmac module).
func TestSignatures(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"user.created"}`)
	if got, want := Sign(secret, body), "426622b0441cbfbbb60071c7d9f20f999dbbcfa607e2408bd80794bee8a052b3"; got != want {
		t.Errorf("X-Signature = %s, want %s", got, want)
	}
	if got, want := StandardSign(secret, "msg_1", 1700000000, body), "v1,Tb9nTmfaQEdswSdolglXeuPz0DwIJXbE2J0yLFfo7Pc="; got != want {
		t.Errorf("webhook-signature = %s, want %s", got, want)
	}
}

func TestHeadersVerify(t *testing.T) {
	now := time.Now()
	old, cur := NewSecret(), NewSecret()
	later := now.Add(time.Hour)
	ev := &StoredEvent{ID: "01a2-ev", Type: "user.created", Payload: []byte(`{"id":"01a2-ev","event":"user.created"}`)}
	d := &Delivery{ID: "01a2-d"}
	tests := []struct {
		name     string
		endpoint Endpoint
		secrets  []string // each must verify
		sigs     int      // signatures in webhook-signature
		newHdr   bool     // X-Signature-New present
	}{
		{"one secret", Endpoint{Secret: cur}, []string{cur}, 1, false},
		{"during a rotation", Endpoint{Secret: cur, PreviousSecret: old, PreviousSecretExpiresAt: &later}, []string{cur, old}, 2, true},
		{"rotation over", Endpoint{Secret: cur, PreviousSecret: old, PreviousSecretExpiresAt: &now}, []string{cur}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := headers(&tc.endpoint, ev, d, 1, now)
			// What a receiving Go server sees: canonical header names.
			wire := http.Header{}
			for k, v := range h {
				for _, x := range v {
					wire.Add(k, x)
				}
			}
			if got := len(strings.Fields(wire.Get("Webhook-Signature"))); got != tc.sigs {
				t.Errorf("webhook-signature has %d signatures, want %d", got, tc.sigs)
			}
			if (wire.Get(HeaderSignatureNew) != "") != tc.newHdr {
				t.Errorf("X-Signature-New = %q", wire.Get(HeaderSignatureNew))
			}
			if tc.newHdr && wire.Get(HeaderSignature) != Sign(old, ev.Payload) {
				t.Error("during a rotation X-Signature must be signed with the previous secret")
			}
			for _, s := range tc.secrets {
				if _, err := client.VerifyWebhook(s, wire, ev.Payload, 0); err != nil {
					t.Errorf("the Go SDK's VerifyWebhook with %.12s…: %v", s, err)
				}
				wh, err := standardwebhooks.NewWebhook(s)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.Verify(ev.Payload, wire); err != nil {
					t.Errorf("Standard Webhooks library with %.12s…: %v", s, err)
				}
			}
			if _, err := client.VerifyWebhook(NewSecret(), wire, ev.Payload, 0); err == nil {
				t.Error("a wrong secret verified")
			}
			if _, err := client.VerifyWebhook(cur, wire, append([]byte(" "), ev.Payload...), 0); err == nil {
				t.Error("a changed body verified")
			}
			old := wire.Clone()
			old.Set(HeaderTimestamp, strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10))
			if _, err := client.VerifyWebhook(cur, old, ev.Payload, 0); err == nil {
				t.Error("an old delivery (a replay) verified")
			}
			if wire.Get(HeaderID) != ev.ID || wire.Get("Webhook-Id") != ev.ID || wire.Get(HeaderEvent) != ev.Type || wire.Get(HeaderDelivery) != d.ID {
				t.Errorf("id headers: %v", wire)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	def, err := NewGuard(nil)
	if err != nil {
		t.Fatal(err)
	}
	loop, err := NewGuard([]string{"127.0.0.0/8", "::1", "10.1.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip          string
		def, looped bool
	}{
		{"93.184.215.14", true, true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true, true},
		{"127.0.0.1", false, true},
		{"127.9.9.9", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true}, // IPv4-mapped loopback
		{"10.0.0.5", false, false},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false}, // cloud metadata
		{"100.64.0.1", false, false},      // carrier-grade NAT
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
		{"fd00::1", false, false},
		{"fe80::1", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"64:ff9b::a00:1", false, false}, // NAT64 of 10.0.0.1
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		if got := def.Allowed(ip); got != tc.def {
			t.Errorf("default guard: %s allowed = %v, want %v", tc.ip, got, tc.def)
		}
		if got := loop.Allowed(ip); got != tc.looped {
			t.Errorf("loopback allowed: %s allowed = %v, want %v", tc.ip, got, tc.looped)
		}
	}
	for _, host := range []string{"127.0.0.1", "[::1]", "localhost", "api.localhost", "169.254.169.254", "10.0.0.1"} {
		if err := def.CheckHost(host); err == nil {
			t.Errorf("CheckHost(%s) allowed by the default guard", host)
		}
	}
	for _, host := range []string{"hooks.example.com", "93.184.215.14"} {
		if err := def.CheckHost(host); err != nil {
			t.Errorf("CheckHost(%s): %v", host, err)
		}
	}
	if err := loop.CheckHost("localhost"); err != nil {
		t.Errorf("localhost with loopback allowed: %v", err)
	}
	if _, err := NewGuard([]string{"not-a-network"}); err == nil {
		t.Error("a bad network was accepted")
	}
	// The dial-time check: what a name resolved to.
	if err := def.control("tcp", "127.0.0.1:80", nil); err == nil {
		t.Error("dialing loopback passed the default guard")
	}
	if err := loop.control("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("dialing allowed loopback: %v", err)
	}
}

func TestValidEvents(t *testing.T) {
	tests := []struct {
		in   []string
		want string // "" : error
	}{
		{[]string{"user.created", "role_assignment.created", "user.created"}, "role_assignment.created user.created"},
		{[]string{"user.created", "*"}, "*"},
		{[]string{"user.exploded"}, ""},
		{[]string{"webhook.test"}, ""},
		{nil, ""},
	}
	for _, tc := range tests {
		got, err := validEvents(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%v: accepted", tc.in)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%v: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestScheduleAndJitter(t *testing.T) {
	s := DefaultSchedule()
	var total time.Duration
	for _, d := range s {
		total += d
	}
	if len(s)+1 != 10 || total < 24*time.Hour {
		t.Errorf("default schedule: %d attempts over %s; want 10 over more than a day", len(s)+1, total)
	}
	for i := 0; i < 1000; i++ {
		if j := jitter(time.Hour); j < 54*time.Minute || j > 66*time.Minute {
			t.Fatalf("jitter(1h) = %s, want within ±10%%", j)
		}
	}
}
