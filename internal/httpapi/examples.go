package httpapi

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// The examples of the OpenAPI document. Every operation gets an example
// for each of its parameters, its JSON request body and its 2xx answers,
// all telling one story so that the requests work in order against a
// fresh server (a Postman import, a collection run): the user ada
// (ada@example.com) gets the role editor, which reads and writes
// documents, in the tenant acme of the default project's development
// environment; the project billing with its environment staging is the
// one made, renamed, deleted and restored.
//
// Request bodies and parameters come from the tables below; answers are
// made from the answer's schema, with the values of the request body and
// of the schema's entry in exampleObjects where the names match, so that
// a create's answer shows what the create sent.

// Server-made ids in examples: stable, so that the spec does not change
// from one run to the next.
var (
	exOrgID      = exampleID("organization")
	exProjectID  = exampleID("project")
	exEnvID      = exampleID("environment")
	exKeyID      = exampleID("api-key")
	exMemberID   = exampleID("member")
	exWebhookID  = exampleID("webhook")
	exDeliveryID = exampleID("delivery")
	exIncidentID = exampleID("incident")
	exJobID      = exampleID("job")
	exTaskID     = exampleID("task")
	exLogID      = exampleID("log")
	exDecisionID = exampleID("decision")
	exSetRuleID  = exampleID("set-rule")
	exRequestID  = exampleID("request")
)

const exTime = "2026-01-15T09:30:00Z"

// exampleID is a version-7-shaped UUID derived from name.
func exampleID(name string) string {
	h := sha1.Sum([]byte("gatehouse example " + name))
	h[6] = 0x70 | h[6]&0x0f
	h[8] = 0x80 | h[8]&0x3f
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// opExample is what one operation's examples need beyond the shared
// tables: its parameters that differ from paramExamples, its request body
// and its answer's data where the schema alone says too little.
type opExample struct {
	params map[string]any
	body   any
	// data overrides fields of the answer's data (an object answer).
	data map[string]any
}

var adaUser = map[string]any{"key": "ada", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
	"attributes": map[string]any{"department": "engineering"}}

var readDocument = map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "document", "key": "report-2026", "tenant": "acme"}}

var bulkTuples = map[string]any{"tuples": []any{
	map[string]any{"subject": "document:handbook", "relation": "parent", "object": "document:onboarding"},
	map[string]any{"subject": "document:handbook", "relation": "parent", "object": "document:policies"},
}}

// opExamples are keyed by operation id.
var opExamples = map[string]opExample{
	// Organizations, projects, environments and settings.
	"create-organization":         {body: map[string]any{"name": "Globex", "key": "globex", "admin_email": "hank@globex.example", "admin_name": "Hank Scorpio"}},
	"update-organization":         {body: map[string]any{"name": "Acme Corporation"}},
	"create-project":              {body: map[string]any{"key": "billing", "name": "Billing", "description": "Invoices and payments"}},
	"update-project":              {body: map[string]any{"name": "Billing", "description": "Invoices, payments and refunds"}},
	"create-environment":          {body: map[string]any{"key": "staging", "name": "Staging", "description": "Pre-production"}},
	"update-environment":          {body: map[string]any{"name": "Staging", "description": "Pre-production, reset every Monday"}},
	"update-settings":             {body: map[string]any{"log_retention_days": 30}},
	"update-environment-settings": {params: map[string]any{"project": "default", "environment": "development"}, body: map[string]any{"decision_log": "full", "api_log_checks": false}},

	// Members and API keys.
	"create-member":      {body: map[string]any{"email": "grace@example.com", "name": "Grace Hopper", "role": "developer"}},
	"update-member":      {body: map[string]any{"name": "Grace Brewster Hopper"}},
	"create-member-role": {body: map[string]any{"key": "auditor", "name": "Auditor", "description": "Reads the logs", "scopes": []any{"view:log", "view:organization"}}},
	"update-member-role": {params: map[string]any{"role": "auditor"}, body: map[string]any{"description": "Reads the API and decision logs", "scopes": []any{"view:log", "view:organization", "view:project"}}},
	"create-api-key": {body: map[string]any{"name": "checkout service", "level": "environment", "project": "default", "environment": "development",
		"scopes": []any{"check:access", "view:user"}}},
	"update-api-key": {body: map[string]any{"name": "checkout service (eu)"}},
	"rotate-api-key": {body: map[string]any{"grace_period_seconds": 3600}},

	// Authorization data.
	"create-user": {body: adaUser},
	"update-user": {body: map[string]any{"first_name": "Augusta Ada", "attributes": map[string]any{"department": "research"}}},
	"create-tenant": {body: map[string]any{"key": "acme", "name": "Acme Inc.", "description": "Acme's workspace",
		"attributes": map[string]any{"plan": "enterprise"}}},
	"update-tenant": {body: map[string]any{"name": "Acme Incorporated", "attributes": map[string]any{"plan": "enterprise", "region": "eu"}}},
	"create-resource": {body: map[string]any{"key": "document", "name": "Document", "description": "A text document",
		"actions": []any{"read", "write"}, "attributes": map[string]any{"classification": map[string]any{"type": "string", "description": "public, internal or secret"}}}},
	"update-resource":  {body: map[string]any{"description": "A text document or a spreadsheet"}},
	"replace-resource": {body: map[string]any{"name": "Document", "description": "A text document or a spreadsheet", "actions": []any{"read", "write"}}},
	"create-resource-role": {body: map[string]any{"key": "owner", "name": "Owner", "description": "Owns the document", "permissions": []any{"read", "write"},
		"granted_to": []any{map[string]any{"role": "owner", "on_resource": "document", "linked_by_relation": "parent"}}}},
	"update-resource-role": {params: map[string]any{"role": "owner"}, body: map[string]any{"description": "Owns the document and its children"}},
	"create-relation":      {body: map[string]any{"key": "parent", "name": "Parent", "subject": "document", "description": "A document contains others"}},
	"create-role": {body: map[string]any{"key": "editor", "name": "Editor", "description": "Reads and writes documents",
		"permissions": []any{"document:read", "document:write"}}},
	"update-role": {body: map[string]any{"description": "Reads and writes every document of the tenant"}},
	"create-resource-instance": {body: map[string]any{"resource": "document", "key": "report-2026", "tenant": "acme",
		"attributes": map[string]any{"classification": "internal"}}},
	"update-resource-instance":        {body: map[string]any{"attributes": map[string]any{"classification": "secret"}}},
	"assign-role":                     {body: map[string]any{"user": "ada", "role": "editor", "tenant": "acme"}},
	"create-relationship-tuple":       {body: map[string]any{"subject": "document:handbook", "relation": "parent", "object": "document:report-2026"}},
	"delete-relationship-tuple":       {body: map[string]any{"subject": "document:handbook", "relation": "parent", "object": "document:report-2026"}},
	"create-relationship-tuples-bulk": {body: bulkTuples},
	"delete-relationship-tuples-bulk": {body: bulkTuples},
	"create-condition-set": {body: map[string]any{"key": "engineers", "name": "Engineers", "type": "userset",
		"conditions": map[string]any{"allOf": []any{map[string]any{"user.department": map[string]any{"equals": "engineering"}}}}}},
	"update-condition-set": {body: map[string]any{"description": "Everyone in engineering",
		"conditions": map[string]any{"anyOf": []any{map[string]any{"user.department": map[string]any{"equals": "engineering"}}, map[string]any{"user.department": map[string]any{"equals": "research"}}}}}},
	"create-set-rule": {body: map[string]any{"user_set": "engineers", "action": "read", "resource_set": "internal_documents"}},

	// Checks.
	"check":             {body: readDocument},
	"check-bulk":        {body: map[string]any{"checks": []any{readDocument, map[string]any{"user": "ada", "action": "write", "resource": map[string]any{"type": "document", "tenant": "acme"}}}}},
	"allowed-resources": {body: map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}}},
	"allowed-users":     {body: map[string]any{"action": "read", "resource": map[string]any{"type": "document", "key": "report-2026", "tenant": "acme"}}},
	"user-permissions":  {body: map[string]any{"user": "ada", "tenants": []any{"acme"}, "instances": true}},

	// Webhooks, jobs, the status page, the PDP.
	"create-webhook": {body: map[string]any{"url": exampleWebhookURL, "description": "Sync users to the CRM",
		"events": []any{"user.created", "user.updated"}, "enabled": true}},
	"update-webhook":             {body: map[string]any{"description": "Sync users and tenants to the CRM", "events": []any{"user.created", "user.updated", "tenant.created"}}},
	"recover-webhook-deliveries": {body: map[string]any{"since": "2026-01-15T00:00:00Z"}},
	"rotate-webhook-secret":      {body: map[string]any{"grace_period_seconds": 3600}},
	"start-job":                  {body: map[string]any{"type": "export"}},
	"import-job": {body: `{"type":"user","key":"grace","email":"grace@example.com","first_name":"Grace","last_name":"Hopper"}` + "\n" +
		`{"type":"role_assignment","user":"grace","role":"editor","tenant":"acme"}` + "\n"},
	"create-incident": {body: map[string]any{"title": "Slow permission checks", "body": "Checks take up to 2 s in eu-west; we are looking into it.",
		"impact": "minor", "status": "investigating", "components": []any{"checks"}}},
	"post-incident-update": {body: map[string]any{"body": "A slow disk on one node; traffic moved off it.", "status": "monitoring"}},
	"resolve-incident":     {body: map[string]any{"body": "Checks are fast again."}},
	"pdp-upload-decisions": {body: map[string]any{"decisions": []any{map[string]any{"timestamp": exTime, "user": "ada", "action": "read",
		"resource_type": "document", "resource_key": "report-2026", "tenant": "acme", "allow": true, "reason": "granted", "role": "editor"}}}},

	// Operations whose path parameters differ from the shared table.
	"get-member-role":      {params: map[string]any{"role": "auditor"}},
	"delete-member-role":   {params: map[string]any{"role": "auditor"}},
	"get-resource-role":    {params: map[string]any{"role": "owner"}},
	"delete-resource-role": {params: map[string]any{"role": "owner"}},
	"pdp-changes":          {params: map[string]any{"since": 42}},
	"list-logs":            {params: map[string]any{"status": "2xx"}},
	"export-logs":          {params: map[string]any{"status": "2xx"}},
	"list-resources":       {params: map[string]any{"type": "content"}},
	// A deleted project or environment is restored by its id (its key may
	// be taken again meanwhile).
	"restore-project":          {params: map[string]any{"project": exampleID("project billing")}},
	"restore-environment":      {params: map[string]any{"project": "billing", "environment": exampleID("environment staging")}},
	"get-environment-settings": {params: map[string]any{"project": "default", "environment": "development"}},
	"list-members":             {params: map[string]any{"role": "developer", "email": "grace@example.com"}},
	"list-projects":            {params: map[string]any{"key": "billing"}},
	"list-environments":        {params: map[string]any{"key": "staging"}},
	"list-relationship-tuples": {params: map[string]any{"subject": "document:handbook", "relation": "parent", "object": "document:report-2026"}},
	"unassign-role":            {params: map[string]any{"user": "ada", "role": "editor", "tenant": "acme"}},
	"list-audit":               {params: auditFilterExample},
	"export-audit":             {params: auditFilterExample},
	"get-audit":                {params: map[string]any{"entry": exampleID("audit entry")}},
}

// auditFilterExample filters the audit trail to the changes of the user ada.
var auditFilterExample = map[string]any{"actor_type": "key", "actor": exKeyID, "action": "user.", "object_type": "user", "object_id": exampleID("user ada")}

// exampleWebhookURL is the example endpoint of a webhook.
const exampleWebhookURL = "https://hooks.example.com/gatehouse"

// paramExamples are the examples of parameters by name, where one operation
// does not say otherwise. Path parameters of the authorization data use
// keys (the API takes an id or a key), those of server-made things ids.
var paramExamples = map[string]any{
	"organization": exOrgID, "member": exMemberID, "webhook": exWebhookID, "delivery": exDeliveryID,
	"incident": exIncidentID, "job": exJobID, "task": exTaskID, "log": exLogID, "decision": exDecisionID,
	"set_rule": exSetRuleID, "key_id": exKeyID, "created_by": exMemberID, "actor": exKeyID, "request_id": exRequestID,
	"user": "ada", "tenant": "acme", "resource": "document", "role": "editor", "relation": "parent",
	"instance": "document:report-2026", "condition_set": "engineers", "resource_instance": "document:report-2026",
	"user_set": "engineers", "action": "read", "resource_set": "internal_documents",
	"subject": "document:handbook", "object": "document:report-2026",
	"email": "ada@example.com", "search": "ad", "since": "2026-01-15T00:00:00Z", "until": "2026-01-16T00:00:00Z",
	"event": "user.created", "method": "POST", "path": "/v1/users", "page": 1, "per_page": 20, "order": "asc",
	"cursor": "start", "cascade": true, "deleted": false, "sandbox": false, "enabled": true, "allow": true,
	"Idempotency-Key": "9b2f4d6e-1c3a-4e5f-8a7b-0c1d2e3f4a5b", "status": nil, "batch_size": 500, "events": true,
	"format": "jsonl", "Last-Event-ID": "42", "Content-Type": "application/x-ndjson",
}

// paramByPathKind: a {project} or {environment} in a path is the project
// (environment) being managed; in a query it names where authorization
// data lives.
var paramInPath = map[string]any{"project": "billing", "environment": "staging", "key": exKeyID}
var paramInQuery = map[string]any{"project": "default", "environment": "development"}

// keyFilterByTag is the example of a list's ?key= filter.
var keyFilterByTag = map[string]string{"Users": "ada", "Tenants": "acme", "Resources": "document", "Roles": "editor",
	"Resource Roles": "owner", "Relations": "parent", "Resource Instances": "report-2026", "Condition Sets": "engineers"}

// exampleObjects are the fields of answers' objects, by schema name, that
// the schema alone would not make realistic.
var exampleObjects = map[string]map[string]any{
	"User":     adaUser,
	"Tenant":   {"key": "acme", "name": "Acme Inc.", "description": "Acme's workspace", "attributes": map[string]any{"plan": "enterprise"}},
	"Resource": {"key": "document", "name": "Document", "description": "A text document", "actions": []any{"read", "write"}},
	"Role": {"key": "editor", "name": "Editor", "description": "Reads and writes documents", "permissions": []any{"document:read", "document:write"},
		"extends": []any{}, "attributes": map[string]any{}},
	"ResourceRole":      {"key": "owner", "name": "Owner", "resource": "document", "permissions": []any{"read", "write"}},
	"Relation":          {"key": "parent", "name": "Parent", "resource": "document", "subject": "document"},
	"ResourceInstance":  {"key": "report-2026", "resource": "document", "tenant": "acme", "attributes": map[string]any{"classification": "internal"}},
	"RoleAssignment":    {"user": "ada", "role": "editor", "tenant": "acme"},
	"RelationshipTuple": {"subject": "document:handbook", "relation": "parent", "object": "document:report-2026"},
	"ConditionSet":      {"key": "engineers", "name": "Engineers", "type": "userset"},
	"SetRule":           {"id": exSetRuleID, "user_set": "engineers", "action": "read", "resource_set": "internal_documents"},
	"Project":           {"id": exProjectID, "key": "default", "name": "Default project"},
	"Environment":       {"id": exEnvID, "key": "development", "name": "Development"},
	"Organization":      {"id": exOrgID, "key": "acme-corp", "name": "Acme Corporation"},
	"Member":            {"id": exMemberID, "email": "grace@example.com", "name": "Grace Hopper", "role": "developer"},
	"MemberRole":        {"key": "auditor", "name": "Auditor", "scopes": []any{"view:log", "view:organization"}},
	"APIKey":            {"id": exKeyID, "name": "checkout service", "level": "environment", "scopes": []any{"check:access", "view:user"}},
	"CreatedAPIKey": {"id": exKeyID, "name": "checkout service", "level": "environment", "scopes": []any{"check:access", "view:user"},
		"token": "eyJhbGciOiJFZERTQSIsImtpZCI6ImdoMSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJleGFtcGxlIn0.c2lnbmF0dXJl"},
	"Webhook":           {"id": exWebhookID, "url": exampleWebhookURL, "events": []any{"user.created", "user.updated"}, "enabled": true},
	"WebhookWithSecret": {"id": exWebhookID, "url": exampleWebhookURL, "events": []any{"user.created", "user.updated"}, "enabled": true, "secret": "whsec_5d41402abc4b2a76b9719d911017c592"},
	"Delivery":          {"id": exDeliveryID, "webhook_id": exWebhookID, "event": "user.created"},
	"DeliveryDetail":    {"id": exDeliveryID, "webhook_id": exWebhookID, "event": "user.created"},
	"IncidentOut":       {"id": exIncidentID, "title": "Slow permission checks"},
	"Job":               {"id": exJobID, "type": "export"},
	"Task":              {"id": exTaskID, "job_id": exJobID},
	"Entry":             {"id": exDecisionID, "user": "ada", "action": "read", "resource": "document", "tenant": "acme", "allow": true},
	"Call":              {"id": exLogID, "method": "POST", "path": "/v1/users", "status": 201},
	"Me":                {"key_id": exKeyID, "key_name": "admin", "level": "organization", "organization_id": exOrgID, "scopes": []any{"manage:organization", "view:organization"}},
	"CheckResult":       {"allow": true},
	"Meta":              {"request_id": exRequestID, "timestamp": exTime},
}

// byName are values for fields of any schema, by field name.
var byName = map[string]any{
	"organization_id": exOrgID, "project_id": exProjectID, "environment_id": exEnvID, "webhook_id": exWebhookID,
	"job_id": exJobID, "key_id": exKeyID, "member_id": exMemberID, "created_by": exMemberID, "request_id": exRequestID,
	"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "user": "ada", "tenant": "acme",
	"role": "editor", "resource": "document", "action": "read", "url": exampleWebhookURL, "api_url": "https://gatehouse.example.com",
	"region": "eu-west-1", "description": "", "error": "", "last_error": "",
	"explanation": "ada holds editor in acme, which grants document:read", "response_body": "",
}

// addExamples fills doc's operations with examples and code samples. It
// panics on an operation it cannot fill: a programming error, found by
// every test.
func addExamples(doc *huma.OpenAPI) {
	reg := doc.Components.Schemas
	for path, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			ex := opExamples[op.OperationID]
			// Huma shares the parameters, bodies and answers made from one
			// Go type between the operations using it: each gets copies
			// before its own examples go in.
			for i, p := range op.Parameters {
				cp := *p
				cp.Example = paramExample(op, p, ex)
				op.Parameters[i] = &cp
			}
			var hints map[string]any
			if op.RequestBody != nil {
				rb := *op.RequestBody
				rb.Content = map[string]*huma.MediaType{}
				for ct, mt := range op.RequestBody.Content {
					if ex.body == nil {
						panic("httpapi: operation " + op.OperationID + " has a " + ct + " body but no example in opExamples")
					}
					cp := *mt
					cp.Example = ex.body
					rb.Content[ct] = &cp
				}
				op.RequestBody = &rb
				hints, _ = ex.body.(map[string]any)
			}
			responses := make(map[string]*huma.Response, len(op.Responses))
			for code, res := range op.Responses {
				responses[code] = res
			}
			op.Responses = responses
			for code, shared := range op.Responses {
				if !strings.HasPrefix(code, "2") {
					continue
				}
				res := *shared
				res.Content = make(map[string]*huma.MediaType, len(shared.Content))
				for ct, mt := range shared.Content {
					cp := *mt
					res.Content[ct] = &cp
				}
				op.Responses[code] = &res
				for ct, mt := range res.Content {
					switch {
					case ct == "text/event-stream":
						mt.Example = "id: 42\nevent: change\ndata: {\"revision\":42}\n\n"
					case ct == "application/x-ndjson":
						mt.Example = `{"id":"` + exLogID + `","method":"POST","path":"/v1/users","status":201}` + "\n"
					case mt.Schema != nil:
						g := &exampleGen{reg: reg, op: op, hints: hints, data: ex.data}
						mt.Example = g.value(mt.Schema, "", 0)
					}
				}
			}
			if op.Extensions == nil {
				op.Extensions = map[string]any{}
			}
			op.Extensions["x-codeSamples"] = codeSamples(path, op)
		}
	}
}

func paramExample(op *huma.Operation, p *huma.Param, ex opExample) any {
	v := paramExampleRaw(op, p, ex)
	if p.Schema != nil && p.Schema.Type == huma.TypeString {
		if _, ok := v.(string); !ok {
			return fmt.Sprint(v)
		}
	}
	return v
}

func paramExampleRaw(op *huma.Operation, p *huma.Param, ex opExample) any {
	if v, ok := ex.params[p.Name]; ok {
		return v
	}
	if p.Name == "key" && p.In == "query" {
		if v, ok := keyFilterByTag[op.Tags[0]]; ok {
			return v
		}
	}
	if p.In == "path" {
		if v, ok := paramInPath[p.Name]; ok {
			return v
		}
	} else if v, ok := paramInQuery[p.Name]; ok {
		return v
	}
	if v, ok := paramExamples[p.Name]; ok && v != nil {
		return v
	}
	if p.Schema != nil {
		switch {
		case p.Schema.Default != nil:
			return p.Schema.Default
		case len(p.Schema.Enum) > 0:
			return p.Schema.Enum[0]
		case p.Schema.Format == "date-time":
			return exTime
		case p.Schema.Type == huma.TypeInteger:
			if p.Schema.Minimum != nil {
				return int(*p.Schema.Minimum)
			}
			return 1
		case p.Schema.Type == huma.TypeBoolean:
			return true
		}
	}
	panic(fmt.Sprintf("httpapi: no example for parameter %s of %s", p.Name, op.OperationID))
}

// exampleGen makes an answer's example from its schema.
type exampleGen struct {
	reg   huma.Registry
	op    *huma.Operation
	hints map[string]any // the request body's fields, for the data object
	data  map[string]any
}

func (g *exampleGen) value(s *huma.Schema, field string, depth int) any {
	name := ""
	if s.Ref != "" {
		name = strings.TrimPrefix(s.Ref, "#/components/schemas/")
		s = g.reg.SchemaFromRef(s.Ref)
	}
	if depth > 8 {
		return nil
	}
	switch {
	case len(s.OneOf) > 0:
		return g.value(s.OneOf[0], field, depth+1)
	case len(s.AnyOf) > 0:
		return g.value(s.AnyOf[0], field, depth+1)
	case len(s.Examples) > 0:
		return s.Examples[0]
	case len(s.Enum) > 0:
		if s.Default != nil {
			return s.Default
		}
		return s.Enum[0]
	}
	switch s.Type {
	case huma.TypeObject:
		if len(s.Properties) == 0 {
			return map[string]any{}
		}
		out := map[string]any{}
		known := exampleObjects[name]
		keys := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		required := map[string]bool{}
		for _, k := range s.Required {
			required[k] = true
		}
		for _, k := range keys {
			ps := s.Properties[k]
			if v, ok := known[k]; ok {
				out[k] = v
				continue
			}
			if !required[k] {
				continue // an optional field shows when the tables give it (below, or in exampleObjects)
			}
			if k == "id" {
				out[k] = exampleID(strings.ToLower(name))
				continue
			}
			out[k] = g.value(ps, k, depth+1)
		}
		if field == "data" {
			g.overlay(s, out, g.hints)
			g.overlay(s, out, g.data)
		}
		return out
	case huma.TypeArray:
		if s.Items == nil {
			return []any{}
		}
		return []any{g.value(s.Items, field, depth+1)}
	case huma.TypeString:
		switch {
		case s.Format == "date-time":
			return exTime
		case s.Format == "date":
			return exTime[:10]
		case s.Format == "uri":
			return exampleWebhookURL
		}
		if v, ok := byName[field]; ok {
			if str, ok := v.(string); ok && (str != "" || s.MinLength == nil) {
				return str
			}
		}
		if strings.HasSuffix(field, "_id") || field == "id" || strings.HasSuffix(field, "_by") {
			return exampleID(field)
		}
		if strings.HasSuffix(field, "_at") {
			return exTime
		}
		if field == "key" {
			return "example"
		}
		return strings.ReplaceAll(field, "_", " ")
	case huma.TypeInteger:
		if s.Default != nil {
			return s.Default
		}
		if strings.Contains(field, "fail") || strings.Contains(field, "error") {
			return 0 // a count of what went wrong: none, in an example
		}
		if s.Minimum != nil && *s.Minimum > 1 {
			return int(*s.Minimum)
		}
		return 1
	case huma.TypeNumber:
		if s.Default != nil {
			return s.Default
		}
		return 0.5
	case huma.TypeBoolean:
		if s.Default != nil {
			return s.Default
		}
		return true
	}
	return map[string]any{}
}

// overlay copies the fields of src that s has, with a value of the kind
// its schema says, into out.
func (g *exampleGen) overlay(s *huma.Schema, out, src map[string]any) {
	for k, v := range src {
		ps, ok := s.Properties[k]
		if !ok {
			continue
		}
		if ps.Ref != "" {
			ps = g.reg.SchemaFromRef(ps.Ref)
		}
		if ps.Type == huma.TypeObject && len(ps.Properties) > 0 {
			continue // a structured object: made from its schema
		}
		if ps.Type == huma.TypeArray && ps.Items != nil && (ps.Items.Ref != "" || ps.Items.Type == huma.TypeObject) {
			continue
		}
		if kindOf(v) == ps.Type {
			if len(ps.Enum) > 0 && !contains(ps.Enum, v) {
				continue
			}
			out[k] = v
		}
	}
}

func contains(list []any, v any) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return huma.TypeString
	case int, int64:
		return huma.TypeInteger
	case float64:
		return huma.TypeNumber
	case bool:
		return huma.TypeBoolean
	case []any:
		return huma.TypeArray
	case map[string]any:
		return huma.TypeObject
	}
	return ""
}

// codeSamples are an operation's calls in curl, Go, JavaScript and Python
// (x-codeSamples, which Redoc shows), made from its examples: required
// parameters and those the operation's examples set, the environment of
// authorization data, and the body. The
// JavaScript and Python samples call the SDKs (every operation of the JS
// SDK is operations.<camelCase id>; the Python client's request sends any
// call with its retries and errors); the Go one is plain net/http, which
// works for every operation.
func codeSamples(path string, op *huma.Operation) []map[string]string {
	url, query := path, [][2]string{}
	for _, p := range op.Parameters {
		v := fmt.Sprint(p.Example)
		switch {
		case p.In == "path":
			url = strings.ReplaceAll(url, "{"+p.Name+"}", v)
		case p.In == "query" && sampleQuery(op, p):
			query = append(query, [2]string{p.Name, v})
		}
	}
	full := url
	for i, q := range query {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		full += sep + q[0] + "=" + q[1]
	}
	ct, body := "", ""
	if op.RequestBody != nil {
		for c := range op.RequestBody.Content {
			if ct == "" || c < ct {
				ct = c
			}
		}
		ex := op.RequestBody.Content[ct].Example
		if s, ok := ex.(string); ok {
			body = s
		} else {
			b, _ := json.Marshal(ex)
			body = string(b)
		}
	}
	public := op.Security != nil && len(op.Security) == 0
	var curl, goSrc, js, py strings.Builder

	// curl
	fmt.Fprintf(&curl, "curl -sS -X %s \"$GATEHOUSE_API_URL%s\"", op.Method, full)
	if !public {
		curl.WriteString(" \\\n  -H \"Authorization: Bearer $GATEHOUSE_API_KEY\"")
	}
	if body != "" {
		fmt.Fprintf(&curl, " \\\n  -H 'Content-Type: %s' \\\n  --data-binary %s", ct, shellQuote(body))
	}

	// Go
	goSrc.WriteString("package main\n\nimport (\n\t\"fmt\"\n\t\"io\"\n\t\"net/http\"\n\t\"os\"\n")
	if body != "" {
		goSrc.WriteString("\t\"strings\"\n")
	}
	goSrc.WriteString(")\n\nfunc main() {\n")
	if body != "" {
		fmt.Fprintf(&goSrc, "\tbody := strings.NewReader(%s)\n", goQuote(body))
		fmt.Fprintf(&goSrc, "\treq, err := http.NewRequest(%q, os.Getenv(\"GATEHOUSE_API_URL\")+%q, body)\n", op.Method, full)
	} else {
		fmt.Fprintf(&goSrc, "\treq, err := http.NewRequest(%q, os.Getenv(\"GATEHOUSE_API_URL\")+%q, nil)\n", op.Method, full)
	}
	goSrc.WriteString("\tif err != nil {\n\t\tpanic(err)\n\t}\n")
	if !public {
		goSrc.WriteString("\treq.Header.Set(\"Authorization\", \"Bearer \"+os.Getenv(\"GATEHOUSE_API_KEY\"))\n")
	}
	if body != "" {
		fmt.Fprintf(&goSrc, "\treq.Header.Set(\"Content-Type\", %q)\n", ct)
	}
	goSrc.WriteString("\tres, err := http.DefaultClient.Do(req)\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tdefer res.Body.Close()\n\tout, _ := io.ReadAll(res.Body)\n\tfmt.Println(res.Status, string(out))\n}\n")

	// JavaScript: the SDK's generated operation.
	fn := camel(op.OperationID)
	js.WriteString("import { Gatehouse, operations } from '@gatehouse/sdk';\n\n")
	js.WriteString("const gh = new Gatehouse({ apiKey: process.env.GATEHOUSE_API_KEY, baseUrl: process.env.GATEHOUSE_API_URL });\n")
	var args []string
	args = append(args, "client: gh.raw")
	if ps := paramsIn(op, "path", false); ps != "" {
		args = append(args, "path: "+ps)
	}
	if qs := paramsIn(op, "query", true); qs != "" {
		args = append(args, "query: "+qs)
	}
	if body != "" {
		if strings.HasPrefix(ct, "application/json") {
			b, _ := json.MarshalIndent(op.RequestBody.Content[ct].Example, "  ", "  ")
			args = append(args, "body: "+string(b))
		} else {
			args = append(args, "body: "+goQuote(body), "bodySerializer: null", fmt.Sprintf("headers: { 'Content-Type': '%s' }", ct))
		}
	}
	args = append(args, "throwOnError: true")
	fmt.Fprintf(&js, "const { data } = await operations.%s({\n  %s,\n});\nconsole.log(data);\n", fn, strings.Join(args, ",\n  "))

	// Python: the SDK client's request.
	py.WriteString("from gatehouse import Client\n\ngh = Client()  # GATEHOUSE_API_KEY and GATEHOUSE_API_URL from the environment\n")
	pyArgs := []string{fmt.Sprintf("%q", op.Method), fmt.Sprintf("%q", url)}
	if len(query) > 0 {
		parts := make([]string, len(query))
		for i, q := range query {
			parts[i] = fmt.Sprintf("%q: %q", q[0], q[1])
		}
		pyArgs = append(pyArgs, "query={"+strings.Join(parts, ", ")+"}")
	}
	if body != "" {
		if strings.HasPrefix(ct, "application/json") {
			pyArgs = append(pyArgs, "body="+pyLiteral(op.RequestBody.Content[ct].Example))
		} else {
			pyArgs = append(pyArgs, "raw="+pyLiteral(body)+".encode()", fmt.Sprintf("content_type=%q", ct))
		}
	}
	fmt.Fprintf(&py, "data, meta = gh.request(%s)\nprint(data)\n", strings.Join(pyArgs, ", "))

	return []map[string]string{
		{"lang": "curl", "label": "curl", "source": curl.String()},
		{"lang": "Go", "label": "Go", "source": goSrc.String()},
		{"lang": "JavaScript", "label": "JavaScript", "source": js.String()},
		{"lang": "Python", "label": "Python", "source": py.String()},
	}
}

// sampleQuery tells whether a code sample sends query parameter p: when
// it is required, names the environment of authorization data, or is
// given by the operation's own examples (the tenant of an unassignment).
func sampleQuery(op *huma.Operation, p *huma.Param) bool {
	_, own := opExamples[op.OperationID].params[p.Name]
	return p.Required || p.Name == "project" || p.Name == "environment" || own
}

// paramsIn is a JS object literal of op's parameters in where (the query
// ones: required, and the environment of authorization data).
func paramsIn(op *huma.Operation, where string, onlyNeeded bool) string {
	var parts []string
	for _, p := range op.Parameters {
		if p.In != where || (onlyNeeded && !sampleQuery(op, p)) {
			continue
		}
		v, _ := json.Marshal(p.Example)
		parts = append(parts, fmt.Sprintf("%s: %s", p.Name, v))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func camel(id string) string {
	parts := strings.Split(id, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func goQuote(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return fmt.Sprintf("%q", s)
}

// pyLiteral writes v as a Python literal.
func pyLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		b, _ := json.Marshal(x)
		return string(b)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q: %s", k, pyLiteral(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyLiteral(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}
