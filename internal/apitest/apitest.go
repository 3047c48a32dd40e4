// Package apitest holds what the API test suites (v1's and Permit's) share:
// sending a request to a live server, and forging a key. Only tests
// import it.
package apitest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Request is one call; Body may be a string (sent as is) or a value (sent
// as JSON).
type Request struct {
	Method, Path, Key string
	Body              any
	Header            map[string]string
}

// Response is what came back, its body unread as JSON (each suite decodes
// it as its API's shape wants).
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
}

// Do sends r to the server at baseURL and fails t if it cannot.
func Do(t testing.TB, baseURL string, r Request) Response {
	t.Helper()
	var rd io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(r.Method, baseURL+r.Path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", r.Method, r.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
}

// IsJSON reports whether res says its body is JSON.
func (res Response) IsJSON() bool {
	return len(res.Raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json")
}

// Forge signs the claims of a real key with a key the server never made.
func Forge(t testing.TB, token string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := jwt.NewWithClaims(jwt.SigningMethodEdDSA, parsed.Claims)
	f.Header["kid"] = parsed.Header["kid"]
	out, err := f.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
