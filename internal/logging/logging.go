// Package logging makes the slog loggers of the gatehouse commands and of
// gatehouse-pdp, and declares their two logging settings once. It imports
// the standard library only.
package logging

import (
	"io"
	"log/slog"
)

// Setting declares a logging setting: its flag, its environment variable,
// its help and its default. The server's settings (internal/config) and the
// PDP's command (internal/pdpcmd), which links no server package, both take
// theirs from here.
type Setting struct {
	Flag, Env, Help, Default string
}

// Level and Format are the --log-level and --log-format settings.
var (
	Level  = Setting{Flag: "log-level", Env: "GATEHOUSE_LOG_LEVEL", Help: "debug, info, warn or error", Default: "info"}
	Format = Setting{Flag: "log-format", Env: "GATEHOUSE_LOG_FORMAT", Help: "text or json", Default: "text"}
)

// New is a logger writing to w at level (debug, info, warn or error; an
// unknown level logs at info) in format (json, else text).
func New(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
