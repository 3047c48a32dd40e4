-- Trigram indexes for ?search= on users, tenants and resource instances:
-- a case-insensitive substring of the key, email, first or last name
-- (users), of the key or name (tenants), of the key (instances). The
-- lists checked LIKE '%term%' on every row of the environment: at 1M
-- users, page 1 of a term one user holds took about 1.5 s.
--
-- A GIN index of pg_trgm over each list's searched columns, lowered and
-- joined by a character no term holds (U+001F), so that a term matches
-- the joined text exactly when it matches one of the columns. The list
-- adds that condition beside the LIKE conditions of each column where it
-- reads the term through the index (search.go).
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: an
-- owner of the database may create it. Where it cannot be created (a
-- server without contrib), the migration says so and goes on without the
-- indexes: search then reads every row of the environment, as before, and
-- each node logs at start the statements that add them.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'gatehouse: the pg_trgm extension could not be created (%): ?search= on users, tenants and resource instances reads every row of the environment until it is (the node logs the statements at start)', SQLERRM;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE $i$CREATE INDEX authz_users_search ON authz_users USING gin (lower(key || E'\x1f' || email || E'\x1f' || first_name || E'\x1f' || last_name) gin_trgm_ops)$i$;
        EXECUTE $i$CREATE INDEX authz_tenants_search ON authz_tenants USING gin (lower(key || E'\x1f' || name) gin_trgm_ops)$i$;
        EXECUTE $i$CREATE INDEX authz_instances_search ON authz_instances USING gin (lower(key) gin_trgm_ops)$i$;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS authz_users_search;
DROP INDEX IF EXISTS authz_tenants_search;
DROP INDEX IF EXISTS authz_instances_search;
