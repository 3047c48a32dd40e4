-- Indexes for the documented sorts of the API log and decision log lists
-- (issue 16 point 12), each ending with id: the keyset of cursor paging
-- and the tie-break of the lists' order. They supersede the indexes with
-- the same leading columns without id.

-- +goose Up
DROP INDEX api_log_org_time;
CREATE INDEX api_log_list_time ON api_log (org_id, created_at, id);
CREATE INDEX api_log_list_env_time ON api_log (org_id, env_id, created_at, id);
CREATE INDEX api_log_list_status ON api_log (org_id, status, id);
CREATE INDEX api_log_list_latency ON api_log (org_id, latency_us, id);

DROP INDEX decision_log_env_time;
DROP INDEX decision_log_env_user;
CREATE INDEX decision_log_list_time ON decision_log (org_id, env_id, created_at, id);
CREATE INDEX decision_log_list_user_time ON decision_log (org_id, env_id, user_key, created_at, id);
CREATE INDEX decision_log_list_user ON decision_log (org_id, env_id, user_key, id);

-- +goose Down
DROP INDEX decision_log_list_user;
DROP INDEX decision_log_list_user_time;
DROP INDEX decision_log_list_time;
CREATE INDEX decision_log_env_time ON decision_log (org_id, env_id, created_at);
CREATE INDEX decision_log_env_user ON decision_log (org_id, env_id, user_key, created_at);

DROP INDEX api_log_list_latency;
DROP INDEX api_log_list_status;
DROP INDEX api_log_list_env_time;
DROP INDEX api_log_list_time;
CREATE INDEX api_log_org_time ON api_log (org_id, created_at);
