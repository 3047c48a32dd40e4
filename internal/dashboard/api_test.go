package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The dashboard's client reaches the API handler in this process, as the
// member: their principal in the context, no credentials in the headers,
// the browser's address and agent; answers and refusals come back typed.
func TestInProcessTransportCallsAsTheMember(t *testing.T) {
	t.Parallel()
	member := &auth.Principal{MemberID: "m1", KeyName: "ada@example.com", Level: auth.LevelOrganization, OrgID: "o1"}
	type seen struct {
		principal                       *auth.Principal
		method, uri, auth, agent, ctype string
		remote, host, body              string
		contentLength                   int64
	}
	var got seen
	var calls atomic.Int32
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		got = seen{principal: auth.FromContext(r.Context()), method: r.Method, uri: r.URL.RequestURI(), auth: r.Header.Get("Authorization"),
			agent: r.UserAgent(), ctype: r.Header.Get("Content-Type"), remote: r.RemoteAddr, host: r.Host, body: string(b), contentLength: r.ContentLength}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/users":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"id": "u1", "key": "ada"}})
		case strings.HasPrefix(r.URL.Path, "/v1/tasks/"):
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"status":"error","error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow down","details":{"field":"key"}}}`)
		default:
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"status":"error","error":{"code":"FORBIDDEN","message":"this needs manage:user"}}`)
		}
	})
	x := &dash{Deps: Deps{API: api}}
	browser := httptest.NewRequest("GET", "/users", nil)
	browser.RemoteAddr, browser.Header["User-Agent"] = "192.0.2.7:5555", []string{"Firefox"}
	c := x.apiClient(browser, member).WithEnvironment("p1", "dev")

	u, err := c.Users.Create(context.Background(), client.UserInput{Key: "ada"})
	if err != nil || u.ID != "u1" || u.Key != "ada" {
		t.Fatalf("create: %+v %v", u, err)
	}
	want := seen{principal: member, method: "POST", uri: "/v1/users?environment=dev&project=p1", agent: "Gatehouse-Dashboard (Firefox)",
		ctype: "application/json", remote: "192.0.2.7:5555", body: `{"key":"ada"}`, contentLength: int64(len(`{"key":"ada"}`))}
	if got != want {
		t.Errorf("the API saw\n%+v\nwant\n%+v", got, want)
	}

	// A refusal is the API's, typed, with its status and message.
	_, err = c.Roles.Get(context.Background(), "editor")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != client.CodeForbidden || errText(err) != "this needs manage:user" {
		t.Errorf("a refusal: %v", err)
	}
	if statusOf(err) != http.StatusForbidden {
		t.Errorf("status of a refusal: %d", statusOf(err))
	}

	// A member waits for no retry: a 429 is shown at once, with its field.
	calls.Store(0)
	_, err = c.Tasks.Get(context.Background(), "t1")
	if calls.Load() != 1 || statusOf(err) != http.StatusTooManyRequests || formError(err) != "slow down (key)" {
		t.Errorf("a 429: %d calls, %v", calls.Load(), err)
	}
}
