package decision

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// traceScope is the instrumentation scope of check spans (telemetry.Scope:
// this package is shared with the PDP, which must not import the server's
// tracing, only OpenTelemetry's API).
const traceScope = "github.com/gatehouse-dev/gatehouse"

// TraceCheck records a permission check that began at start as a span under
// ctx's request span: its decision, action and resource type (never the
// user, the resource's key or the tenant). It does nothing unless ctx's
// span is recording.
func TraceCheck(ctx context.Context, start time.Time, allow bool, action, resourceType string) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	decision := "deny"
	if allow {
		decision = "allow"
	}
	_, span := parent.TracerProvider().Tracer(traceScope).Start(ctx, "check", trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("gatehouse.check.decision", decision), attribute.String("gatehouse.check.action", action),
			attribute.String("gatehouse.check.resource_type", resourceType)))
	span.End()
}

// TraceChecks records a bulk check of n checks, allowed of them allowed, as
// one span.
func TraceChecks(ctx context.Context, start time.Time, n, allowed int) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	_, span := parent.TracerProvider().Tracer(traceScope).Start(ctx, "check bulk", trace.WithTimestamp(start),
		trace.WithAttributes(attribute.Int("gatehouse.check.count", n), attribute.Int("gatehouse.check.allowed", allowed)))
	span.End()
}
