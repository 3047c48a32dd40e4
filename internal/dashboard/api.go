package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// inProcessBase is the address the dashboard's API client believes it
// calls; no request leaves the process (the transport serves it).
const inProcessBase = "http://gatehouse.in-process"

// inProcess is the http.RoundTripper of the dashboard's API client: it
// serves each request by calling the API handler in this process, with the
// signed-in member as the caller. The API sees the member's principal (their
// role's scopes) in the request's context, where only code in this process
// can put it, and checks every scope as for any key; the Authorization
// header the client sends is dropped.
type inProcess struct {
	api       http.Handler
	principal *auth.Principal
	// remoteAddr and userAgent are those of the browser's request, for the
	// rate limit and the API log.
	remoteAddr string
	userAgent  string
}

// RoundTrip serves req with the API handler.
func (t *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	var body io.Reader
	if req.Body != nil && req.Body != http.NoBody {
		defer req.Body.Close()
		body = req.Body
	}
	ctx := auth.WithPrincipal(req.Context(), t.principal)
	if req.Method == http.MethodGet || req.Context().Value(drawingKey{}) != nil {
		ctx = web.Unlogged(ctx) // drawing a page is not an action
	}
	in, err := http.NewRequestWithContext(ctx, req.Method, req.URL.RequestURI(), body)
	if err != nil {
		return nil, fmt.Errorf("dashboard: the API request: %w", err)
	}
	if body == nil {
		in.Body = http.NoBody // as a server's handler expects
	}
	in.ContentLength = req.ContentLength
	for k, v := range req.Header {
		if k != "Authorization" && k != "User-Agent" {
			in.Header[k] = v
		}
	}
	in.Header.Set("User-Agent", t.userAgent)
	in.RemoteAddr = t.remoteAddr
	w := &recorder{header: http.Header{}}
	t.api.ServeHTTP(w, in)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: w.header, ContentLength: int64(w.body.Len()),
		Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), Request: req}, nil
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// apiClient is the API client acting as principal p for the browser's
// request r. It never retries (a person is waiting, and a refusal is shown
// as it is) and follows no redirect.
func (x *dash) apiClient(r *http.Request, p *auth.Principal) *client.Client {
	t := &inProcess{api: x.API, principal: p, remoteAddr: r.RemoteAddr,
		userAgent: "Gatehouse-Dashboard (" + truncate(r.UserAgent(), 200) + ")"}
	hc := &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return client.New(inProcessBase, "", client.WithHTTPClient(hc), client.WithRetries(0))
}

type drawingKey struct{}

// drawing marks the API calls made with ctx as reads made to draw a page
// (a POST that asks, like /v1/user-permissions): not logged, as GETs.
func drawing(ctx context.Context) context.Context { return context.WithValue(ctx, drawingKey{}, true) }

// apiContext is the context of the API calls made for r: not cancelled
// when the browser goes away, so a write runs to its end.
func apiContext(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

// statusOf is the HTTP status of a failed API call (500 when the API gave
// no answer the client could read).
func statusOf(err error) int {
	var e *client.Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}

// errText is the message to show for a failed API call ("" for none).
func errText(err error) string {
	if err == nil {
		return ""
	}
	var e *client.Error
	if !errors.As(err, &e) {
		return "the API answered something unreadable"
	}
	if e.Message == "" {
		return http.StatusText(e.Status)
	}
	return e.Message
}

// formError turns a failed API call into the message shown beside a form:
// the API's message, with the field it is about.
func formError(err error) string {
	msg := errText(err)
	var e *client.Error
	if errors.As(err, &e) {
		if f, ok := e.Details["field"].(string); ok && f != "" && !strings.Contains(msg, f) {
			msg += " (" + f + ")"
		}
	}
	return msg
}
