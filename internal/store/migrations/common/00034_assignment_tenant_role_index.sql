-- The tenant assignments' (tenant_id, role_id): a list filtered by a role
-- and sorted by tenant (?role=viewer&sort=tenant), or filtered by a tenant
-- and a role both holding many rows, counts each tenant's rows of the role.
-- Through (tenant_id, created_at, id) each count read every row of the
-- tenant from the table for its role: 2.8 s on SQLite and 3.3 s on
-- PostgreSQL for a deep page by number half-way through a role holding
-- 500,000 of 1M assignments (bench/README.md, "Twelfth pass"). This index
-- answers those counts alone.

-- +goose Up
CREATE INDEX authz_role_assignments_tenant_role ON authz_role_assignments (tenant_id, role_id);

-- +goose Down
DROP INDEX authz_role_assignments_tenant_role;
