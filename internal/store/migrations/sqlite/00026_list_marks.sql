-- list_marks holds, per environment and fact table, marks along the table's
-- rows in (created_at, id) order: each mark (at, id) and n, the number of
-- the environment's rows from that mark up to the next one. A deep page by
-- number of a list in that order (store/marks.go) adds up the marks'
-- counts to find the mark before its first row, then skips at most one
-- mark's rows, instead of every row before the page: a page at any depth
-- costs about the same, and stays so through inserts, deletes and
-- updates. The first mark of an environment's table is at the smallest
-- (at, id) there is, so every row has a mark at or before it.
--
-- Triggers keep the counts exact: an insert adds one to the mark at or
-- before its row, a delete takes one away. (created_at and id of these
-- tables are never updated.) The server splits a mark whose count has grown
-- large (inserts after the newest row all count on the last mark) by
-- reading its rows (store/marks.go); the triggers only count.
--
-- Tables: the lists that grow to millions of rows, users, tenants and role
-- assignments. Existing rows get a mark every 1,024 rows.

-- +goose Up
CREATE TABLE list_marks (
    env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    tbl    TEXT NOT NULL,
    at     INTEGER NOT NULL,
    id     TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (env_id, tbl, at, id)
) WITHOUT ROWID;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_users', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_users)
WHERE rn % 1024 = 0;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_tenants', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_tenants)
WHERE rn % 1024 = 0;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_role_assignments', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_role_assignments)
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_users_lm_ins AFTER INSERT ON authz_users BEGIN
    INSERT OR IGNORE INTO list_marks (env_id, tbl, at, id, n) VALUES (NEW.env_id, 'authz_users', -9223372036854775808, '', 0);
    UPDATE list_marks SET n = n + 1 WHERE env_id = NEW.env_id AND tbl = 'authz_users' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = NEW.env_id AND tbl = 'authz_users' AND (at, id) <= (NEW.created_at, NEW.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_lm_del AFTER DELETE ON authz_users BEGIN
    UPDATE list_marks SET n = n - 1 WHERE env_id = OLD.env_id AND tbl = 'authz_users' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = OLD.env_id AND tbl = 'authz_users' AND (at, id) <= (OLD.created_at, OLD.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_lm_ins AFTER INSERT ON authz_tenants BEGIN
    INSERT OR IGNORE INTO list_marks (env_id, tbl, at, id, n) VALUES (NEW.env_id, 'authz_tenants', -9223372036854775808, '', 0);
    UPDATE list_marks SET n = n + 1 WHERE env_id = NEW.env_id AND tbl = 'authz_tenants' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = NEW.env_id AND tbl = 'authz_tenants' AND (at, id) <= (NEW.created_at, NEW.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_lm_del AFTER DELETE ON authz_tenants BEGIN
    UPDATE list_marks SET n = n - 1 WHERE env_id = OLD.env_id AND tbl = 'authz_tenants' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = OLD.env_id AND tbl = 'authz_tenants' AND (at, id) <= (OLD.created_at, OLD.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_lm_ins AFTER INSERT ON authz_role_assignments BEGIN
    INSERT OR IGNORE INTO list_marks (env_id, tbl, at, id, n) VALUES (NEW.env_id, 'authz_role_assignments', -9223372036854775808, '', 0);
    UPDATE list_marks SET n = n + 1 WHERE env_id = NEW.env_id AND tbl = 'authz_role_assignments' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = NEW.env_id AND tbl = 'authz_role_assignments' AND (at, id) <= (NEW.created_at, NEW.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_lm_del AFTER DELETE ON authz_role_assignments BEGIN
    UPDATE list_marks SET n = n - 1 WHERE env_id = OLD.env_id AND tbl = 'authz_role_assignments' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = OLD.env_id AND tbl = 'authz_role_assignments' AND (at, id) <= (OLD.created_at, OLD.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_users_lm_ins;
DROP TRIGGER authz_users_lm_del;
DROP TRIGGER authz_tenants_lm_ins;
DROP TRIGGER authz_tenants_lm_del;
DROP TRIGGER authz_role_assignments_lm_ins;
DROP TRIGGER authz_role_assignments_lm_del;
DROP TABLE list_marks;
