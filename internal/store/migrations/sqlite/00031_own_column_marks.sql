-- key_marks (migration 00028) for users and tenants sorted by a column of
-- their own: sorts "u:key", "u:email" and "u:updated_at" of the users,
-- "t:key", "t:name" and "t:updated_at" of the tenants, in the lists' order
-- (column, id). A mark's key holds a text column (its at is 0), or its at
-- holds updated_at (its key is ''). A deep page by number of GET
-- /v1/users?sort=email (or key, updated_at) stepped over every row before
-- it in the sort's index: 52-69 ms half-way through 1M users on SQLite,
-- about twice that at the end.
--
-- Triggers keep the counts exact: an insert adds one to the mark at or
-- before its row under each sort, a delete takes one away, and an update
-- of email (name) or updated_at moves the row's count from the mark of its
-- old place to that of its new one. Keys are never updated. Existing rows
-- get a mark every 1,024 rows of each sort.

-- +goose Up
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'u:key', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, key AS k, 0 AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY key, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_users) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'u:email', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, email AS k, 0 AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY email, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_users) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'u:updated_at', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, '' AS k, updated_at AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY updated_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_users) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 't:key', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, key AS k, 0 AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY key, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_tenants) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 't:name', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, name AS k, 0 AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY name, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_tenants) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 't:updated_at', CASE WHEN rn = 0 THEN '' ELSE k END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE a END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, '' AS k, updated_at AS a, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY updated_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total
      FROM authz_tenants) AS r
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_users_om_ins AFTER INSERT ON authz_users BEGIN
    INSERT OR IGNORE INTO key_marks (env_id, sort, key, at, id, n) VALUES (NEW.env_id, 'u:key', '', -9223372036854775808, '', 0), (NEW.env_id, 'u:email', '', -9223372036854775808, '', 0), (NEW.env_id, 'u:updated_at', '', -9223372036854775808, '', 0);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'u:key' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'u:key' AND (key, at, id) <= (NEW.key, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'u:email' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'u:email' AND (key, at, id) <= (NEW.email, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'u:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'u:updated_at' AND (key, at, id) <= ('', NEW.updated_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_om_del AFTER DELETE ON authz_users BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'u:key' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'u:key' AND (key, at, id) <= (OLD.key, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'u:email' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'u:email' AND (key, at, id) <= (OLD.email, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'u:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'u:updated_at' AND (key, at, id) <= ('', OLD.updated_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_om_email AFTER UPDATE OF email ON authz_users WHEN OLD.email <> NEW.email BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'u:email' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'u:email' AND (key, at, id) <= (OLD.email, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'u:email' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'u:email' AND (key, at, id) <= (NEW.email, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_om_updated_at AFTER UPDATE OF updated_at ON authz_users WHEN OLD.updated_at <> NEW.updated_at BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'u:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'u:updated_at' AND (key, at, id) <= ('', OLD.updated_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'u:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'u:updated_at' AND (key, at, id) <= ('', NEW.updated_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_om_ins AFTER INSERT ON authz_tenants BEGIN
    INSERT OR IGNORE INTO key_marks (env_id, sort, key, at, id, n) VALUES (NEW.env_id, 't:key', '', -9223372036854775808, '', 0), (NEW.env_id, 't:name', '', -9223372036854775808, '', 0), (NEW.env_id, 't:updated_at', '', -9223372036854775808, '', 0);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 't:key' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 't:key' AND (key, at, id) <= (NEW.key, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 't:name' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 't:name' AND (key, at, id) <= (NEW.name, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 't:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 't:updated_at' AND (key, at, id) <= ('', NEW.updated_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_om_del AFTER DELETE ON authz_tenants BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 't:key' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 't:key' AND (key, at, id) <= (OLD.key, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 't:name' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 't:name' AND (key, at, id) <= (OLD.name, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 't:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 't:updated_at' AND (key, at, id) <= ('', OLD.updated_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_om_name AFTER UPDATE OF name ON authz_tenants WHEN OLD.name <> NEW.name BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 't:name' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 't:name' AND (key, at, id) <= (OLD.name, 0, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 't:name' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 't:name' AND (key, at, id) <= (NEW.name, 0, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_om_updated_at AFTER UPDATE OF updated_at ON authz_tenants WHEN OLD.updated_at <> NEW.updated_at BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 't:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 't:updated_at' AND (key, at, id) <= ('', OLD.updated_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 't:updated_at' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 't:updated_at' AND (key, at, id) <= ('', NEW.updated_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_users_om_email;
DROP TRIGGER authz_users_om_updated_at;
DROP TRIGGER authz_users_om_del;
DROP TRIGGER authz_users_om_ins;
DROP TRIGGER authz_tenants_om_name;
DROP TRIGGER authz_tenants_om_updated_at;
DROP TRIGGER authz_tenants_om_del;
DROP TRIGGER authz_tenants_om_ins;
DELETE FROM key_marks WHERE sort IN ('u:key', 'u:email', 'u:updated_at', 't:key', 't:name', 't:updated_at');
