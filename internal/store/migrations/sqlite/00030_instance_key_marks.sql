-- key_marks (migration 00028) for the role assignments on resource
-- instances: sorts "i:user", "i:role" and "i:tenant", along the order of
-- a sort by the key of their user, resource role or instance's tenant,
-- (key, created_at, id). The list of both kinds (kind=all, the API's
-- default, in an environment with roles on instances) sorted by key
-- merges both tables' marks (store/keymerge.go): a deep page by number
-- was a walk over every key before it (222 ms on SQLite half-way through
-- 1.1M assignments).
--
-- Triggers keep the counts exact, as 00028's do: an insert adds one to the
-- mark at or before its row under each sort, a delete takes one away. A
-- user, resource role, instance or tenant deleted takes its assignments
-- on instances first (BEFORE DELETE), while their keys can still be read.
-- An instance moved to another tenant moves its assignments' counts from
-- the marks of its old tenant's key to those of its new one. Keys and
-- created_at are never updated. Existing assignments get a mark every
-- 1,024 rows of each sort.

-- +goose Up
CREATE INDEX authz_resource_roles_env_key ON authz_resource_roles (env_id, key);
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:user', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_users k ON k.id = a.user_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:role', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_resource_roles k ON k.id = a.role_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:tenant', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_instances ki ON ki.id = a.instance_id JOIN authz_tenants k ON k.id = ki.tenant_id) AS r
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_km_ins AFTER INSERT ON authz_instance_assignments BEGIN
    INSERT OR IGNORE INTO key_marks (env_id, sort, key, at, id, n) VALUES (NEW.env_id, 'i:user', '', -9223372036854775808, '', 0), (NEW.env_id, 'i:role', '', -9223372036854775808, '', 0), (NEW.env_id, 'i:tenant', '', -9223372036854775808, '', 0);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'i:user' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'i:user' AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = NEW.user_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'i:role' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'i:role' AND (key, at, id) <= ((SELECT key FROM authz_resource_roles WHERE id = NEW.role_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'i:tenant' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'i:tenant' AND (key, at, id) <= ((SELECT t.key FROM authz_instances i JOIN authz_tenants t ON t.id = i.tenant_id WHERE i.id = NEW.instance_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_km_del AFTER DELETE ON authz_instance_assignments BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'i:user' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'i:user' AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = OLD.user_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'i:role' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'i:role' AND (key, at, id) <= ((SELECT key FROM authz_resource_roles WHERE id = OLD.role_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'i:tenant' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'i:tenant' AND (key, at, id) <= ((SELECT t.key FROM authz_instances i JOIN authz_tenants t ON t.id = i.tenant_id WHERE i.id = OLD.instance_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_km_tenant AFTER UPDATE OF tenant_id ON authz_instances
WHEN OLD.tenant_id <> NEW.tenant_id AND EXISTS (SELECT 1 FROM authz_instance_assignments WHERE instance_id = NEW.id) BEGIN
    UPDATE key_marks SET n = n - (
        SELECT COUNT(*) FROM authz_instance_assignments a WHERE a.instance_id = NEW.id
        AND (key_marks.key, key_marks.at, key_marks.id) = (
            SELECT l.key, l.at, l.id FROM key_marks l WHERE l.env_id = NEW.env_id AND l.sort = 'i:tenant' AND (l.key, l.at, l.id) <= ((SELECT key FROM authz_tenants WHERE id = OLD.tenant_id), a.created_at, a.id)
            ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1))
    WHERE env_id = NEW.env_id AND sort = 'i:tenant' AND key <= (SELECT key FROM authz_tenants WHERE id = OLD.tenant_id) AND (key, at, id) >= (
        SELECT l.key, l.at, l.id FROM key_marks l WHERE l.env_id = NEW.env_id AND l.sort = 'i:tenant' AND (l.key, l.at, l.id) <= ((SELECT key FROM authz_tenants WHERE id = OLD.tenant_id), -9223372036854775808, '')
        ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1);
    UPDATE key_marks SET n = n + (
        SELECT COUNT(*) FROM authz_instance_assignments a WHERE a.instance_id = NEW.id
        AND (key_marks.key, key_marks.at, key_marks.id) = (
            SELECT l.key, l.at, l.id FROM key_marks l WHERE l.env_id = NEW.env_id AND l.sort = 'i:tenant' AND (l.key, l.at, l.id) <= ((SELECT key FROM authz_tenants WHERE id = NEW.tenant_id), a.created_at, a.id)
            ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1))
    WHERE env_id = NEW.env_id AND sort = 'i:tenant' AND key <= (SELECT key FROM authz_tenants WHERE id = NEW.tenant_id) AND (key, at, id) >= (
        SELECT l.key, l.at, l.id FROM key_marks l WHERE l.env_id = NEW.env_id AND l.sort = 'i:tenant' AND (l.key, l.at, l.id) <= ((SELECT key FROM authz_tenants WHERE id = NEW.tenant_id), -9223372036854775808, '')
        ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_ikm_del BEFORE DELETE ON authz_users BEGIN
    DELETE FROM authz_instance_assignments WHERE user_id = OLD.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_ikm_del BEFORE DELETE ON authz_tenants BEGIN
    DELETE FROM authz_instance_assignments WHERE instance_id IN (SELECT id FROM authz_instances WHERE tenant_id = OLD.id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_km_del BEFORE DELETE ON authz_resource_roles BEGIN
    DELETE FROM authz_instance_assignments WHERE role_id = OLD.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_km_del BEFORE DELETE ON authz_instances BEGIN
    DELETE FROM authz_instance_assignments WHERE instance_id = OLD.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_instances_km_del;
DROP TRIGGER authz_resource_roles_km_del;
DROP TRIGGER authz_tenants_ikm_del;
DROP TRIGGER authz_users_ikm_del;
DROP TRIGGER authz_instances_km_tenant;
DROP TRIGGER authz_instance_assignments_km_del;
DROP TRIGGER authz_instance_assignments_km_ins;
DELETE FROM key_marks WHERE sort IN ('i:user', 'i:role', 'i:tenant');
DROP INDEX authz_resource_roles_env_key;
