-- Trigram indexes for ?search= on users, tenants and resource instances:
-- a case-insensitive substring of the key, email, first or last name
-- (users), of the key or name (tenants), of the key (instances). The
-- lists checked LIKE '%term%' on every row of the environment: at 1M
-- users, page 1 of a term one user holds took about 7.6 s.
--
-- FTS5 tables of the trigram tokenizer over the rows' own text (external
-- content: the index only, keyed by the row's rowid), kept by triggers in
-- the writing transaction. The list reads a term of three characters or
-- more through the index and still checks each row found with the LIKE
-- conditions, so the results are those of the scan (search.go). The
-- rowids of these tables are kept by VACUUM and VACUUM INTO, since the
-- tables have indexes (a test vacuums and searches); after a copy made
-- some other way, INSERT INTO search_users(search_users) VALUES
-- ('rebuild') (and the same for search_tenants and search_instances)
-- rebuilds them.

-- +goose Up
CREATE VIRTUAL TABLE search_users USING fts5(key, email, first_name, last_name, content='authz_users', tokenize='trigram');
INSERT INTO search_users(search_users) VALUES ('rebuild');
-- +goose StatementBegin
CREATE TRIGGER search_users_ins AFTER INSERT ON authz_users BEGIN
    INSERT INTO search_users(rowid, key, email, first_name, last_name) VALUES (NEW.rowid, NEW.key, NEW.email, NEW.first_name, NEW.last_name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_users_del AFTER DELETE ON authz_users BEGIN
    INSERT INTO search_users(search_users, rowid, key, email, first_name, last_name) VALUES ('delete', OLD.rowid, OLD.key, OLD.email, OLD.first_name, OLD.last_name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_users_upd AFTER UPDATE OF key, email, first_name, last_name ON authz_users BEGIN
    INSERT INTO search_users(search_users, rowid, key, email, first_name, last_name) VALUES ('delete', OLD.rowid, OLD.key, OLD.email, OLD.first_name, OLD.last_name);
    INSERT INTO search_users(rowid, key, email, first_name, last_name) VALUES (NEW.rowid, NEW.key, NEW.email, NEW.first_name, NEW.last_name);
END;
-- +goose StatementEnd

CREATE VIRTUAL TABLE search_tenants USING fts5(key, name, content='authz_tenants', tokenize='trigram');
INSERT INTO search_tenants(search_tenants) VALUES ('rebuild');
-- +goose StatementBegin
CREATE TRIGGER search_tenants_ins AFTER INSERT ON authz_tenants BEGIN
    INSERT INTO search_tenants(rowid, key, name) VALUES (NEW.rowid, NEW.key, NEW.name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_tenants_del AFTER DELETE ON authz_tenants BEGIN
    INSERT INTO search_tenants(search_tenants, rowid, key, name) VALUES ('delete', OLD.rowid, OLD.key, OLD.name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_tenants_upd AFTER UPDATE OF key, name ON authz_tenants BEGIN
    INSERT INTO search_tenants(search_tenants, rowid, key, name) VALUES ('delete', OLD.rowid, OLD.key, OLD.name);
    INSERT INTO search_tenants(rowid, key, name) VALUES (NEW.rowid, NEW.key, NEW.name);
END;
-- +goose StatementEnd

CREATE VIRTUAL TABLE search_instances USING fts5(key, content='authz_instances', tokenize='trigram');
INSERT INTO search_instances(search_instances) VALUES ('rebuild');
-- +goose StatementBegin
CREATE TRIGGER search_instances_ins AFTER INSERT ON authz_instances BEGIN
    INSERT INTO search_instances(rowid, key) VALUES (NEW.rowid, NEW.key);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_instances_del AFTER DELETE ON authz_instances BEGIN
    INSERT INTO search_instances(search_instances, rowid, key) VALUES ('delete', OLD.rowid, OLD.key);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_instances_upd AFTER UPDATE OF key ON authz_instances BEGIN
    INSERT INTO search_instances(search_instances, rowid, key) VALUES ('delete', OLD.rowid, OLD.key);
    INSERT INTO search_instances(rowid, key) VALUES (NEW.rowid, NEW.key);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER search_users_ins;
DROP TRIGGER search_users_del;
DROP TRIGGER search_users_upd;
DROP TABLE search_users;
DROP TRIGGER search_tenants_ins;
DROP TRIGGER search_tenants_del;
DROP TRIGGER search_tenants_upd;
DROP TABLE search_tenants;
DROP TRIGGER search_instances_ins;
DROP TRIGGER search_instances_del;
DROP TRIGGER search_instances_upd;
DROP TABLE search_instances;
