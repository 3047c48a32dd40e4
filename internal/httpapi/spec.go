package httpapi

import (
	"embed"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// serveSpec serves the OpenAPI document generated from the registered
// operations: 3.0.3 YAML at /v1/spec.yaml (the version Postman imports)
// and 3.1 JSON at /v1/spec.json. Each is rendered on its first request and
// kept: rendered at start they were 3 MB of every node's heap (a tenth of
// it at 100k assignments) that most nodes never serve.
func serveSpec(mux *http.ServeMux, oapi *huma.OpenAPI) {
	yaml30 := sync.OnceValue(func() []byte {
		b, err := oapi.DowngradeYAML()
		if err != nil {
			panic("httpapi: render OpenAPI 3.0: " + err.Error()) // a programming error, found by TestSpecIsValid
		}
		return b
	})
	json31 := sync.OnceValue(func() []byte {
		b, err := json.MarshalIndent(oapi, "", "  ")
		if err != nil {
			panic("httpapi: render OpenAPI 3.1: " + err.Error())
		}
		return b
	})
	mux.HandleFunc("GET /v1/spec.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(yaml30())
	})
	mux.HandleFunc("GET /v1/spec.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(json31())
	})
}

//go:embed assets/redoc.standalone.js assets/redoc.LICENSE
var assets embed.FS

// docsPage renders the API reference with the vendored Redoc bundle: no
// CDN, no fonts from elsewhere, so it works offline.
const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API reference</title>
<style>body{margin:0;padding:0}</style>
</head>
<body>
<redoc spec-url="/v1/spec.yaml" hide-download-button="false" native-scrollbars="true"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
`

func serveDocs(mux *http.ServeMux) {
	page := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; script-src 'self' 'unsafe-eval'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		_, _ = w.Write([]byte(docsPage))
	}
	mux.HandleFunc("GET /docs", page)
	mux.HandleFunc("GET /v1/docs", page)
	files := http.FileServerFS(assets)
	mux.Handle("GET /docs/assets/", http.StripPrefix("/docs", cacheForever(files)))
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}
