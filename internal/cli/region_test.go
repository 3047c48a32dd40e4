package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// region runs `gatehouse init` and `serve` on addr with args (its region
// flags) until the test ends, and returns init's output.
func region(t *testing.T, addr string, initArgs, serveArgs []string) initOut {
	t.Helper()
	dir := t.TempDir()
	out, err := run(t, nil, append([]string{"init", "--output", "json", "--data-dir", dir}, initArgs...)...)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	var res initOut
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- cli.Run(ctx, append([]string{"serve", "--addr", addr, "--data-dir", dir}, serveArgs...), func(string) string { return "" },
			strings.NewReader(""), io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	testwait.Until(t, 60*time.Second, addr+" healthy", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return res
}

func call(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRegions: two single-node "regions" on loopback. A key carries its
// organization's region; presented to the other region's server it gets
// 421 naming its region's URL, on v1, the checks, the PDP's feed and
// Permit's /v2; at home it works, and /v1/me and init show the region and
// the apiUrl. A key minted before the cluster had a region works on.
func TestRegions(t *testing.T) {
	t.Parallel()
	usAddr, euAddr := freeAddr(t), freeAddr(t)
	usURL, euURL := "http://"+usAddr, "http://"+euAddr
	urls := "us=" + usURL + ",eu=" + euURL
	us := region(t, usAddr, []string{"--region", "us", "--region-urls", urls}, []string{"--region", "us", "--region-urls", urls})
	// eu's organization was made before eu had a region: its key carries none
	eu := region(t, euAddr, nil, []string{"--region", "eu", "--region-urls", urls})

	var initJSON struct {
		Region string `json:"region"`
		APIURL string `json:"api_url"`
	}
	out, err := run(t, nil, "init", "--output", "json", "--data-dir", t.TempDir(), "--region", "us", "--region-urls", urls)
	if err != nil || json.Unmarshal([]byte(out), &initJSON) != nil || initJSON.Region != "us" || initJSON.APIURL != usURL {
		t.Fatalf("init --region us: %v %s", err, out)
	}
	out, err = run(t, nil, "init", "--data-dir", t.TempDir(), "--region", "us", "--region-urls", urls)
	if err != nil || !strings.Contains(out, "region:        us") || !strings.Contains(out, "SDK apiUrl:    "+usURL) {
		t.Fatalf("init --region us (text): %v\n%s", err, out)
	}

	// at home
	code, body := call(t, "GET", usURL+"/v1/me", us.APIKey, "")
	var me struct {
		Data struct {
			Region string `json:"region"`
			APIURL string `json:"api_url"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &me) != nil || me.Data.Region != "us" || me.Data.APIURL != usURL {
		t.Fatalf("us key at home: %d %s", code, body)
	}
	code, body = call(t, "GET", euURL+"/v1/me", eu.APIKey, "")
	if code != 200 || json.Unmarshal([]byte(body), &me) != nil || me.Data.Region != "eu" || me.Data.APIURL != euURL {
		t.Fatalf("a key without a region claim on a cluster that now has one: %d %s", code, body)
	}

	// abroad: 421 naming the home URL, wherever the key is presented
	envKey := func(s string) string {
		t.Helper()
		_, b := call(t, "POST", s+"/v1/api-keys", us.APIKey, `{"name":"env","level":"environment","project":"default","environment":"development","scopes":["check:access"]}`)
		var k struct {
			Data struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(b), &k) != nil || k.Data.Token == "" {
			t.Fatalf("new key: %s", b)
		}
		return k.Data.Token
	}
	usEnv := envKey(usURL)
	if code, body := call(t, "POST", usURL+"/v1/allowed", usEnv, `{"user":"a","action":"read","resource":{"type":"doc"}}`); code != 200 {
		t.Fatalf("check at home: %d %s", code, body)
	}
	for _, tc := range []struct{ method, path, key, body string }{
		{"GET", "/v1/me", us.APIKey, ""},
		{"GET", "/v1/projects", us.APIKey, ""},
		{"POST", "/v1/allowed", usEnv, `{"user":"a","action":"read","resource":{"type":"doc"}}`},
		{"GET", "/v1/pdp/snapshot", usEnv, ""},
		{"GET", "/v2/api-key/scope", us.APIKey, ""},
		{"POST", "/allowed", usEnv, `{"user":"a","action":"read","resource":{"type":"doc","tenant":"default"}}`},
	} {
		code, body := call(t, tc.method, euURL+tc.path, tc.key, tc.body)
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "WRONG_REGION") ||
			!strings.Contains(body, "homed in region us") || !strings.Contains(body, usURL) {
			t.Errorf("%s %s with a us key at eu: %d %s", tc.method, tc.path, code, body)
		}
	}
	// a PDP given a us key and the eu server stops at start, naming the URL
	if _, err := run(t, nil, "pdp", "--api-url", euURL, "--key", usEnv, "--addr", freeAddr(t), "--snapshot-dir", t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), "homed in region us") || !strings.Contains(err.Error(), usURL) {
		t.Errorf("pdp with a us key at eu: %v", err)
	}
	// a region the cluster has no URL for still gets 421, saying so
	lone := freeAddr(t)
	region(t, lone, nil, []string{"--region", "ap"})
	if code, body := call(t, "GET", "http://"+lone+"/v1/me", us.APIKey, ""); code != http.StatusMisdirectedRequest || !strings.Contains(body, "no URL for it") {
		t.Errorf("us key at a cluster without region URLs: %d %s", code, body)
	}
	// a forged region claim that is no region name is just an invalid key
	parts := strings.Split(us.APIKey, ".")
	forged := parts[0] + "." + b64(`{"region":"<script>","iss":"gatehouse"}`) + "." + parts[2]
	if code, body := call(t, "GET", euURL+"/v1/me", forged, ""); code != http.StatusUnauthorized || strings.Contains(body, "<script>") {
		t.Errorf("forged region claim: %d %s", code, body)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
