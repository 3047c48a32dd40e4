-- Indexes for the documented filters of the API log and decision log
-- lists (issue 16 point 12), each (filter, created_at, id) after the
-- organization (and the environment, for decisions): a filtered list is
-- newest first by default, so each filter's rows are a range of its index
-- already in the list's order, and its count (up to 10,000) reads that
-- range alone. Without them a filter was checked row by row along the
-- time index: at a million rows a filter few rows hold read them all
-- (5 s for one API key's calls or one tenant's decisions on SQLite).
-- The status class (?status=5xx) has an index on SQLite alone (00008).
-- api_log_org_request gives way to the request's index with created_at
-- and id.
--
-- Each index is one more entry per row written: see bench/README.md
-- ("Sixteenth pass") for what they cost the log's writes.

-- +goose Up
DROP INDEX api_log_org_request;
CREATE INDEX api_log_list_request_time ON api_log (org_id, request_id, created_at, id);
CREATE INDEX api_log_list_project_time ON api_log (org_id, project_id, created_at, id);
CREATE INDEX api_log_list_actor_time ON api_log (org_id, actor_id, created_at, id);
CREATE INDEX api_log_list_status_time ON api_log (org_id, status, created_at, id);
CREATE INDEX api_log_list_method_time ON api_log (org_id, method, created_at, id);

CREATE INDEX decision_log_list_action_time ON decision_log (org_id, env_id, action, created_at, id);
CREATE INDEX decision_log_list_resource_time ON decision_log (org_id, env_id, resource_type, created_at, id);
CREATE INDEX decision_log_list_tenant_time ON decision_log (org_id, env_id, tenant, created_at, id);
CREATE INDEX decision_log_list_allow_time ON decision_log (org_id, env_id, allow, created_at, id);
CREATE INDEX decision_log_list_reason_time ON decision_log (org_id, env_id, reason, created_at, id);
CREATE INDEX decision_log_list_role_time ON decision_log (org_id, env_id, role, created_at, id);
CREATE INDEX decision_log_list_source_time ON decision_log (org_id, env_id, source, created_at, id);
CREATE INDEX decision_log_list_request_time ON decision_log (org_id, env_id, request_id, created_at, id);

-- +goose Down
DROP INDEX decision_log_list_request_time;
DROP INDEX decision_log_list_source_time;
DROP INDEX decision_log_list_role_time;
DROP INDEX decision_log_list_reason_time;
DROP INDEX decision_log_list_allow_time;
DROP INDEX decision_log_list_tenant_time;
DROP INDEX decision_log_list_resource_time;
DROP INDEX decision_log_list_action_time;

DROP INDEX api_log_list_method_time;
DROP INDEX api_log_list_status_time;
DROP INDEX api_log_list_actor_time;
DROP INDEX api_log_list_project_time;
DROP INDEX api_log_list_request_time;
CREATE INDEX api_log_org_request ON api_log (org_id, request_id);
