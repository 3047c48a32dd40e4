package pdp

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/adminhttp"
)

// AdminHandler answers a PDP's admin listener (--admin-addr): the Go
// runtime's /debug/pprof/ (heap, goroutines, CPU profiles), as the
// server's admin listener does. It is never mounted on the PDP's own
// port, and asks for no credentials.
func AdminHandler() http.Handler {
	mux := http.NewServeMux()
	adminhttp.Profiles(mux)
	adminhttp.Index(mux, "Gatehouse PDP admin listener: /debug/pprof/")
	return mux
}

// ServeAdmin answers the admin listener on ln until ctx ends.
func ServeAdmin(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	return adminhttp.Serve(ctx, ln, AdminHandler(), log)
}
