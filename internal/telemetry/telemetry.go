// Package telemetry holds Gatehouse's OpenTelemetry tracing: the tracer
// provider (OTLP over HTTP, off unless --otlp-endpoint is set), the W3C
// trace context propagator, and the spans of requests, checks, store
// statements, webhook deliveries and background jobs.
//
// Off, a nil *Tracing: nothing is wrapped, and every helper here returns at
// its first comparison. What spans record is chosen not to leak: routes are
// mux patterns (never raw paths or query strings), no body, header, key
// material, SQL bound value or user id is ever an attribute (user keys are
// often e-mail addresses or other personal data; a check's span carries its
// decision, action and resource type only).
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of every Gatehouse span.
const Scope = "github.com/gatehouse-dev/gatehouse"

// Tracing is a node's tracer and propagator. A nil *Tracing traces nothing.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
}

// Options say where spans go.
type Options struct {
	// Endpoint is the OTLP/HTTP collector: host:port (spans go to
	// /v1/traces) or an http(s):// URL with its path. Ignored when Exporter
	// is set.
	Endpoint string
	// Insecure sends over plain HTTP.
	Insecure bool
	// Ratio is the share of new traces sampled; a remote parent's decision
	// wins.
	Ratio float64
	// Service and Version name the process (service.name,
	// service.version).
	Service, Version string
	// Exporter, when set, receives every ended span synchronously instead
	// of the OTLP exporter (tests: tracetest.NewInMemoryExporter).
	Exporter sdktrace.SpanExporter
}

// New starts tracing as o says; it returns nil (no tracing) when o has
// neither an endpoint nor an exporter. Call Shutdown to flush.
func New(ctx context.Context, o Options) (*Tracing, error) {
	var proc sdktrace.SpanProcessor
	switch {
	case o.Exporter != nil:
		proc = sdktrace.NewSimpleSpanProcessor(o.Exporter)
	case o.Endpoint != "":
		var opts []otlptracehttp.Option
		if strings.Contains(o.Endpoint, "://") {
			opts = append(opts, otlptracehttp.WithEndpointURL(o.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(o.Endpoint))
		}
		if o.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		proc = sdktrace.NewBatchSpanProcessor(exp)
	default:
		return nil, nil
	}
	service := o.Service
	if service == "" {
		service = "gatehouse"
	}
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.version", o.Version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.Ratio))))
	return &Tracing{Provider: tp, Tracer: tp.Tracer(Scope), Propagator: propagation.TraceContext{}}, nil
}

// Shutdown flushes the spans not yet sent and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.Provider.Shutdown(ctx)
}

// Start starts a span named name under ctx's span (a root span when ctx
// has none). A nil Tracing starts nothing: the span is ctx's (a no-op
// one when ctx has none) and ending it does nothing.
func (t *Tracing) Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(nonRecording(ctx))
	}
	return t.Tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// nonRecording is a context whose span is a no-op: ending it cannot end
// the caller's span.
func nonRecording(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(ctx))
}

// Inject writes ctx's trace context (traceparent) into h.
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if t == nil {
		return
	}
	t.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Job runs fn, a background job of kind, in a root span of its own (the
// work a request enqueued runs later, on any node).
func (t *Tracing) Job(ctx context.Context, kind string, fn func(context.Context) error) error {
	if t == nil {
		return fn(ctx)
	}
	ctx, span := t.Tracer.Start(ctx, "job "+kind, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("gatehouse.job.kind", kind)))
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "the job failed")
	}
	return err
}
