-- Trigram indexes for ?search= on users and tenants: a case-insensitive
-- substring of the key, email, first or last name (users), of the key or
-- name (tenants). The lists matched every row of the environment with
-- LIKE '%term%' over each column: at 20,000 users a term one user holds
-- took 23-38 ms a page, at 1M users about a second.
--
-- A GIN index of pg_trgm over the row's searched columns, lowered and
-- joined by a character no term holds (U+001F), so that a term matches
-- the joined text exactly when it matches one of the columns. The list
-- adds that condition beside the LIKE conditions of each column
-- (search.go); the planner reads the index for a rare term and the rows
-- in order for a common one.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: an
-- owner of the database may create it. Where it cannot be created (a
-- server without contrib), the migration says so and goes on without the
-- indexes: search then reads every row of the environment, as before.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'gatehouse: the pg_trgm extension could not be created (%): ?search= on users and tenants reads every row of the environment until it is (the node logs the statements at start)', SQLERRM;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE $i$CREATE INDEX authz_users_search ON authz_users USING gin (lower(key || E'\x1f' || email || E'\x1f' || first_name || E'\x1f' || last_name) gin_trgm_ops)$i$;
        EXECUTE $i$CREATE INDEX authz_tenants_search ON authz_tenants USING gin (lower(key || E'\x1f' || name) gin_trgm_ops)$i$;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS authz_users_search;
DROP INDEX IF EXISTS authz_tenants_search;
