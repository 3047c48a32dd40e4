package clientaddr_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      []string
		none    bool
		wantErr string
	}{
		{in: nil, none: true},
		{in: []string{"", "  "}, none: true},
		{in: []string{"10.0.0.0/8", " 127.0.0.1 ", "fd00::/8", "::1"}},
		{in: []string{"10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{in: []string{"proxy.internal"}, wantErr: "want a CIDR"},
		{in: []string{"fe80::1%eth0"}, wantErr: "want a CIDR"},
		{in: []string{"10.0.0.1:80"}, wantErr: "want a CIDR"},
		{in: []string{"10.0.0.1/8"}, wantErr: "write the address alone (10.0.0.1) for that one proxy, or the network (10.0.0.0/8)"},
		{in: []string{"0.0.0.0/0"}, wantErr: "every address"},
		{in: []string{"::/0"}, wantErr: "every address"},
		{in: []string{"::ffff:0.0.0.0/96"}, wantErr: "every address"},
	} {
		got, err := clientaddr.Parse(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q): err %v, want one containing %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.none != (got == nil):
			t.Errorf("Parse(%q) = %v, want nil: %v", tc.in, got, tc.none)
		}
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	trusted, err := clientaddr.Parse([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no header", "10.0.0.1", nil, "10.0.0.1"},
		{"one proxy", "10.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"a peer not trusted: the header is the client's own say", "198.51.100.1", []string{"203.0.113.7"}, "198.51.100.1"},
		{"what the client wrote is left of the entry the proxy added", "10.0.0.1", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"two proxies", "127.0.0.1", []string{"203.0.113.7, 10.2.3.4"}, "203.0.113.7"},
		{"two proxies, one header each", "127.0.0.1", []string{"6.6.6.6, 203.0.113.7", "10.2.3.4"}, "203.0.113.7"},
		{"every entry trusted: the leftmost", "10.0.0.1", []string{"10.9.9.9,10.8.8.8"}, "10.9.9.9"},
		{"a malformed entry stops at the proxy that added it", "10.0.0.1", []string{"203.0.113.7, unknown"}, "10.0.0.1"},
		{"an empty entry too", "10.0.0.1", []string{"203.0.113.7,"}, "10.0.0.1"},
		{"a malformed entry left of the client is not read", "10.0.0.1", []string{"garbage, 203.0.113.7"}, "203.0.113.7"},
		{"with a port", "10.0.0.1", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"IPv6", "10.0.0.1", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 in brackets with a port", "10.0.0.1", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"IPv6 in brackets", "10.0.0.1", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"a trusted IPv6 proxy", "2001:db8:ffff::1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"an IPv4-mapped peer", "::ffff:10.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"an IPv4-mapped entry", "10.0.0.1", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"a zone is not an address", "10.0.0.1", []string{"fe80::1%eth0"}, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := trusted.Client(ip(tc.peer), tc.xff); got != ip(tc.want) {
				t.Errorf("Client(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}

	// A huge header: at most 32 entries are read, whatever its length.
	long := strings.Repeat("10.1.1.1,", 100_000) + "10.1.1.2"
	if got := trusted.Client(ip("10.0.0.1"), []string{long}); got != ip("10.1.1.1") {
		t.Errorf("a header of 100,001 trusted entries: %s", got)
	}
	if got := trusted.Client(ip("10.0.0.1"), []string{"203.0.113.7," + strings.Repeat("10.1.1.1,", 40) + "10.1.1.1"}); got != ip("10.1.1.1") {
		t.Errorf("a chain of 41 trusted proxies: %s, want the 32nd hop", got)
	}
	var none *clientaddr.Trusted
	if got := none.Client(ip("10.0.0.1"), []string{"203.0.113.7"}); got != ip("10.0.0.1") {
		t.Errorf("no trusted network: %s", got)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	var seen string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })
	trusted, err := clientaddr.Parse([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"from a trusted proxy", "10.0.0.1:5555", []string{"203.0.113.7"}, "203.0.113.7:0"},
		{"IPv6 client", "10.0.0.1:5555", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"from anyone else", "198.51.100.1:5555", []string{"203.0.113.7"}, "198.51.100.1:5555"},
		{"no header", "10.0.0.1:5555", nil, "10.0.0.1:5555"},
		{"a malformed peer", "pipe", []string{"203.0.113.7"}, "pipe"},
	} {
		r := httptest.NewRequest("GET", "/v1/status", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		trusted.Middleware(h).ServeHTTP(httptest.NewRecorder(), r)
		if seen != tc.want {
			t.Errorf("%s: the handler saw %q, want %q", tc.name, seen, tc.want)
		}
	}
	var off *clientaddr.Trusted
	if got := off.Middleware(h); got == nil {
		t.Fatal("no handler")
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.7":        "203.0.113.7",
		"2001:db8::7":        "2001:db8::/64",
		"2001:db8::ffff:1":   "2001:db8::/64",
		"2001:db8:0:1::7":    "2001:db8:0:1::/64",
		"::ffff:203.0.113.7": "::ffff:203.0.113.7",
		"fe80::1%eth0":       "fe80::/64",
		"pipe":               "pipe",
		"":                   "",
	} {
		if got := clientaddr.Bucket(in); got != want {
			t.Errorf("Bucket(%q) = %q, want %q", in, got, want)
		}
	}
}
