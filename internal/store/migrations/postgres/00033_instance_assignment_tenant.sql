-- The tenant of each role assignment on a resource instance, kept on the
-- assignment (it is its instance's): a list of one tenant's assignments on
-- instances (?tenant= with kind=instance or kind=all) and the sort by
-- tenant ("i:tenant" key marks) read the tenant's instances one by one
-- and sorted their assignments, about 100 ms for a tenant holding 60,000
-- of them. With the column, its index (tenant_id, created_at, id) reads
-- them in the list's order, as authz_role_assignments_list_tenant does.
--
-- The writers store the instance's tenant; two triggers keep it right when
-- one stored another, or when an insert and a move of its instance to
-- another tenant run at once. An insert's check runs after the statement
-- has taken the environment's facts_versions row (as every counting
-- writer does) and corrects what it stored only when it differs from the
-- instance's committed tenant (otherwise it writes nothing). A move
-- updates the instance's assignments (locking them before that row, as a
-- delete of one does), then takes that row, waiting for an insert that
-- holds it to commit, and updates the rows such inserts committed
-- meanwhile: either way the later of the two sees the other.

-- +goose Up
LOCK TABLE authz_instances IN SHARE MODE;
-- The column added empty, then filled by a rewrite of the table (which
-- builds its indexes again, sorted): an UPDATE of every row took 58 s at
-- 1M assignments on instances, the rewrite 13 s. A rewrite's USING may
-- not hold a subquery, so the look-up is a function's, dropped after.
ALTER TABLE authz_instance_assignments ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE FUNCTION instance_assignment_tenant_00033(instance TEXT) RETURNS TEXT LANGUAGE sql STABLE AS 'SELECT tenant_id FROM authz_instances WHERE id = instance';
ALTER TABLE authz_instance_assignments ALTER COLUMN tenant_id TYPE TEXT USING instance_assignment_tenant_00033(instance_id);
DROP FUNCTION instance_assignment_tenant_00033(TEXT);
CREATE INDEX authz_instance_assignments_list_tenant ON authz_instance_assignments (tenant_id, created_at, id);
-- The rewritten table's statistics (autovacuum does not analyze after a
-- rewrite), so that lists by tenant are planned on the new column's.
ANALYZE authz_instance_assignments;

-- +goose StatementBegin
CREATE FUNCTION instance_assignments_tenant_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM facts_versions WHERE env_id IN (SELECT DISTINCT env_id FROM new_rows) ORDER BY env_id FOR UPDATE;
    IF EXISTS (SELECT 1 FROM new_rows r JOIN authz_instances i ON i.id = r.instance_id WHERE r.tenant_id <> i.tenant_id) THEN
        UPDATE authz_instance_assignments a SET tenant_id = i.tenant_id FROM new_rows r JOIN authz_instances i ON i.id = r.instance_id
        WHERE a.id = r.id AND a.tenant_id <> i.tenant_id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- After authz_instance_assignments_fv_ins (triggers of one event run in
-- the order of their names), which has taken the facts_versions rows.
CREATE TRIGGER authz_instance_assignments_tn_ins AFTER INSERT ON authz_instance_assignments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION instance_assignments_tenant_ins();

-- +goose StatementBegin
CREATE FUNCTION instance_assignments_tenant_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE authz_instance_assignments SET tenant_id = NEW.tenant_id WHERE instance_id = NEW.id AND tenant_id <> NEW.tenant_id;
    -- Rows of inserts that read the instance before this move: committed
    -- by the time this transaction holds the environment's row.
    PERFORM 1 FROM facts_versions WHERE env_id = NEW.env_id FOR UPDATE;
    UPDATE authz_instance_assignments SET tenant_id = NEW.tenant_id WHERE instance_id = NEW.id AND tenant_id <> NEW.tenant_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- Before authz_instances_km_tenant (which takes the facts_versions row
-- first): row triggers of one event run in the order of their names.
CREATE TRIGGER authz_instances_assign_tenant AFTER UPDATE OF tenant_id ON authz_instances FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id) EXECUTE FUNCTION instance_assignments_tenant_move();

-- +goose Down
DROP TRIGGER authz_instances_assign_tenant ON authz_instances;
DROP FUNCTION instance_assignments_tenant_move();
DROP TRIGGER authz_instance_assignments_tn_ins ON authz_instance_assignments;
DROP FUNCTION instance_assignments_tenant_ins();
DROP INDEX authz_instance_assignments_list_tenant;
ALTER TABLE authz_instance_assignments DROP COLUMN tenant_id;
