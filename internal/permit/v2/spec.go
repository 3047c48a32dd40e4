package permitv2

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// The Permit API's reference: an OpenAPI 3.0 document made from the
// operation table (what is served is what is listed) at /v2/openapi.json,
// rendered at /v2/redoc (where Permit keeps its own) with the
// Redoc bundle the v1 reference serves at /docs/assets.

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

var paramDoc = map[string]string{
	"proj": "Project id or key (Permit's undashed ids too).", "env": "Environment id or key.",
	"user": "User id or key.", "tenant": "Tenant id or key.", "role": "Role id or key.", "parent": "The parent role's id or key.",
	"resource": "Resource id or key.", "action": "Action key or id.", "group": "Action group key or id.",
	"instance": "Resource instance id or \"type:key\".", "relation": "Relation id or key.", "set": "Condition set id or key.",
}

func spec(routes []ruled) []byte {
	errRef := map[string]any{"$ref": "#/components/schemas/ErrorDetails"}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
	}
	anyJSON := map[string]any{"description": "Permit's shape of the item or list (see docs/permit-migration.md)",
		"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}}
	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	add := func(method, path, summary, tag string, bearer bool, ext map[string]any) {
		op := map[string]any{"summary": summary, "tags": []string{tag},
			"operationId": strings.ToLower(method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_").Replace(path)}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "description": paramDoc[m[1]], "schema": map[string]any{"type": "string"}})
		}
		cursored := method == http.MethodGet && cursorLists[path]
		if cursored {
			params = append(params, map[string]any{"name": "cursor", "in": "query", "required": false, "schema": map[string]any{"type": "string"},
				"description": "Gatehouse's extension: page by keyset instead of page number. cursor=start for the first page, then the " + NextCursorHeader +
					" header of the previous page (with the same filters); not with page > 1. The page is not counted (total_count and page_count are -1)."})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		hasBody := false
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			hasBody = !strings.HasSuffix(path, "/parents/{parent}")
		case http.MethodDelete: // Permit sends bodies on these deletes
			hasBody = strings.HasSuffix(path, "/role_assignments") || strings.HasSuffix(path, "/users/{user}/roles") || strings.Contains(path, "/bulk") ||
				strings.HasSuffix(path, "/permissions") || strings.HasSuffix(path, "/relationship_tuples") || strings.HasSuffix(path, "/set_rules") ||
				strings.HasSuffix(path, "/implicit_grants")
		}
		if hasBody {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}}
		}
		status := "200"
		if method == http.MethodDelete && !strings.Contains(path, "/bulk") && !strings.HasSuffix(path, "/permissions") && !strings.HasSuffix(path, "/parents/{parent}") {
			status = "204"
		}
		if strings.HasPrefix(summary, "Not implemented") {
			status = "501"
		}
		responses := map[string]any{status: anyJSON, "401": errResp("No valid API key"), "403": errResp("The key lacks the scope or the reach"),
			"404": errResp("Not found"), "422": errResp("Invalid input (with FastAPI's detail list)"), "429": errResp("Rate limited")}
		if cursored {
			responses[status] = map[string]any{"description": anyJSON["description"], "content": anyJSON["content"],
				"headers": map[string]any{NextCursorHeader: map[string]any{"description": "With ?cursor=: the cursor of the next page (absent on the last page).", "schema": map[string]any{"type": "string"}}}}
		}
		if status == "204" {
			responses["204"] = map[string]any{"description": "Done"}
		}
		if status == "501" {
			responses["501"] = errResp("Permit has this operation; Gatehouse does not (error_code NOT_IMPLEMENTED)")
		}
		if method == http.MethodPut && strings.HasSuffix(path, "/users/{user}") {
			responses["201"] = map[string]any{"description": "Created (200: replaced)", "content": anyJSON["content"]}
		}
		op["responses"] = responses
		if bearer {
			op["security"] = []map[string][]string{{"bearer": {}}}
		}
		for k, v := range ext {
			op[k] = v
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
		tags[tag] = true
	}
	for _, rt := range routes {
		tag := "Projects"
		switch {
		case strings.HasPrefix(rt.path, "/v2/api-key"):
			tag = "API keys"
		case strings.HasPrefix(rt.path, "/v2/facts"):
			tag = "Facts"
		case strings.HasPrefix(rt.path, "/v2/schema"):
			tag = "Schema"
		}
		summary := rt.summary
		if rt.rule.Scope != "" {
			summary += " (" + string(rt.rule.Scope) + ")"
		}
		if rt.rule.OrgOnly {
			summary += "; an organization key"
		}
		scopes := []string{}
		if rt.rule.Scope != "" {
			scopes = append(scopes, string(rt.rule.Scope))
		}
		add(rt.method, rt.path, summary, tag, true, map[string]any{"x-required-scopes": scopes, "x-organization-key-only": rt.rule.OrgOnly, "x-v1-operation": rt.twin})
	}
	for path, summary := range map[string]string{
		"/allowed":             "May the user do the action on the resource? (check:access, an environment key)",
		"/allowed/bulk":        "Many checks (a JSON array), answered in order",
		"/allowed/all-tenants": "The tenants where the check is allowed",
		"/user-permissions":    "What the user may do, keyed __tenant:<tenant key>",
	} {
		add(http.MethodPost, path, summary, "Decisions", true, map[string]any{"x-required-scopes": []string{string(gatehouse.ScopeCheckAccess)}})
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Gatehouse API v2 (Permit.io-compatible, beta)", "version": "2.0.0-beta",
			"description": "The part of Permit.io's API that Permit's SDKs use, served by Gatehouse on the same data as /v1. " +
				"Point a Permit SDK's apiUrl (and pdp) at this server. Errors are {id, error_code, title, message}. " +
				"The /v1 API's reference is at /docs."},
		"servers": []map[string]any{{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas": map[string]any{"ErrorDetails": map[string]any{"type": "object", "required": []string{"id", "error_code", "title"},
				"properties": map[string]any{"id": map[string]any{"type": "string"}, "error_code": map[string]any{"type": "string"},
					"title": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"},
					"support_link": map[string]any{"type": "string"}, "additional_info": map[string]any{},
					"detail": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}}},
		},
	}
	var tagList []map[string]string
	for _, t := range []string{"API keys", "Projects", "Facts", "Schema", "Decisions"} {
		if tags[t] {
			tagList = append(tagList, map[string]string{"name": t})
		}
	}
	doc["tags"] = tagList
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("permitv2: render the v2 spec: " + err.Error()) // a programming error, found by every test
	}
	return out
}

// page renders the reference with the vendored Redoc bundle (no CDN, so
// it works offline).
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API v2 (Permit-compatible) reference</title>
<style>body{margin:0;padding:0}</style>
</head>
<body>
<redoc spec-url="/v2/openapi.json" hide-download-button="false" native-scrollbars="true"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
`

func serveSpec(mux *http.ServeMux, routes []ruled) {
	doc := spec(routes)
	mux.HandleFunc("GET /v2/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(doc)
	})
	mux.HandleFunc("GET /v2/redoc", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; script-src 'self' 'unsafe-eval'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		_, _ = w.Write([]byte(page))
	})
}
