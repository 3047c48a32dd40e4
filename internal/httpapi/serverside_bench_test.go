package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCheckServerSide is a check over a real HTTP/1.1 keep-alive
// connection to the server's whole handler (the server's http.Server and
// its full stack), driven by a client that writes prebuilt request bytes
// and reads the answer without allocating: allocs/op is then the
// server's side of a real request (net/http's reading and writing plus
// the handler), which -benchmem counts across goroutines. "nethttp" is
// the same round trip to a handler that only reads the body and writes a
// fixed JSON answer: net/http's own share. Each sub-benchmark also
// reports server_allocs/op, its allocs/op less nethttp's (measured in
// the same run), the allocations Gatehouse adds to net/http's; bulk
// reports them per check too (100 checks a call).
func BenchmarkCheckServerSide(b *testing.B) {
	s, key := checkBenchServer("read")
	var items []string
	for range 100 {
		items = append(items, `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`)
	}
	cases := []struct{ name, path, body, want string }{
		{"v1", "/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`, `"allow":true`},
		{"permit", "/allowed", `{"user":{"key":"ada"},"action":"read","resource":{"type":"doc","tenant":"default"},"context":{}}`, `"allow":true`},
		{"bulk", "/v1/allowed/bulk", `{"checks":[` + strings.Join(items, ",") + `]}`, `"allow":true`},
	}
	// The floor's handler allocates nothing itself: what its round trip
	// allocates is net/http's.
	floorBuf, floorCT, floorAnswer := make([]byte, 4096), []string{"application/json"}, []byte(`{"allow":true}`+"\n")
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadFull(r.Body, floorBuf[:r.ContentLength]) // one connection at a time
		w.Header()["Content-Type"] = floorCT
		_, _ = w.Write(floorAnswer)
	}))
	defer floor.Close()
	floorConn := dialRaw(b, floor.URL, rawRequest("/v1/allowed", key, cases[0].body))
	defer floorConn.close()
	floorAllocs := testing.AllocsPerRun(2000, func() { floorConn.roundTrip(b, `"allow":true`) })

	b.Run("nethttp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			floorConn.roundTrip(b, `"allow":true`)
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			conn := dialRaw(b, s.url, rawRequest(c.path, key, c.body))
			defer conn.close()
			conn.roundTrip(b, c.want) // the connection and the server's pools warm
			allocs := testing.AllocsPerRun(2000, func() { conn.roundTrip(b, c.want) })
			b.ReportAllocs()
			for b.Loop() {
				conn.roundTrip(b, c.want)
			}
			b.ReportMetric(allocs-floorAllocs, "server_allocs/op")
			if c.name == "bulk" {
				b.ReportMetric(allocs/100, "allocs/check")
			}
		})
	}
}

func rawRequest(path, key, body string) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, key, len(body), body)
}

// rawConn is one keep-alive connection sending the same request again.
type rawConn struct {
	c    net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

func dialRaw(b *testing.B, url string, req []byte) *rawConn {
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		b.Fatal(err)
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10), req: req, body: make([]byte, 64<<10)}
}

func (c *rawConn) close() { _ = c.c.Close() }

// roundTrip writes the request and reads the answer: a 200 whose body
// holds want.
func (c *rawConn) roundTrip(b *testing.B, want string) {
	if _, err := c.c.Write(c.req); err != nil {
		b.Fatal(err)
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		b.Fatalf("status line %q", status)
	}
	n, chunked := -1, false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v))) // no allocation: the conversion does not escape
		}
		if bytes.Equal(line, []byte("Transfer-Encoding: chunked\r\n")) {
			chunked = true
		}
	}
	if chunked {
		n = 0
		for {
			line, err := c.r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil || n+int(size) > len(c.body) {
				b.Fatalf("chunk %q: %v", line, err)
			}
			if _, err := io.ReadFull(c.r, c.body[n:n+int(size)]); err != nil {
				b.Fatal(err)
			}
			n += int(size)
			if _, err := c.r.Discard(2); err != nil { // CRLF
				b.Fatal(err)
			}
			if size == 0 {
				break
			}
		}
		if !bytes.Contains(c.body[:n], []byte(want)) {
			b.Fatalf("answer %s", c.body[:n])
		}
		return
	}
	if n < 0 || n > len(c.body) {
		b.Fatalf("content length %d", n)
	}
	if _, err := io.ReadFull(c.r, c.body[:n]); err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(c.body[:n], []byte(want)) {
		b.Fatalf("answer %s", c.body[:n])
	}
}
