-- Decisions counted per minute, hour and day of an environment and
-- decision (issue 16 point 12), as 00006 and 00010 count the API log's
-- calls. A deep page by number of the decision log in time order
-- (GET /v1/decisions?page=25000, with or without ?allow=) skipped every
-- decision before it in an index: 57-60 ms half-way through a million
-- denials. The list now adds up the days' counts to the day the page starts
-- in, then that day's hours, then that hour's minutes, and steps over the
-- decisions of one minute (callseek.go).
--
-- The database keeps the counts, whichever version writes or deletes the
-- rows (a rolling upgrade's older nodes too): a statement trigger on
-- INSERT adds each statement's rows, summed per cell and written in key
-- order, minutes, then hours, then days (the writer inserts a batch in
-- one statement, so two nodes' writers take the cells' locks in one
-- order); one on DELETE takes deleted rows off, through the same ordered
-- upserts (of negative counts), so that retention and a writer touching
-- the same cells (a late upload into the bucket the cut falls in) also
-- lock them in one order (an UPDATE ... FROM locks them in the order its
-- plan reads them). decision_log is locked against inserts and deletes
-- (SHARE) while the counts are made from its rows and the triggers
-- created, so that every row is counted once.
--
-- During a rolling upgrade, the nodes of the version before insert a batch
-- of 1,000 decisions in two statements of 500, each counted by the trigger
-- in its turn: two such transactions, or one and this version's writer,
-- may take the cells of one hour or day in opposite orders and deadlock.
-- PostgreSQL aborts one of them after deadlock_timeout (1 s by default);
-- nothing is lost: the batch writers write the batch again, and a PDP's
-- upload answered 503 (Retry-After) is uploaded again. Once every node
-- runs this version, each batch is one statement.

-- +goose Up
LOCK TABLE decision_log IN SHARE MODE;
CREATE TABLE decision_minutes (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, minute, allow)
);
CREATE TABLE decision_hours (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, hour, allow)
);
CREATE TABLE decision_days (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    day       BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, day, allow)
);

-- +goose StatementBegin
CREATE FUNCTION decision_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decision_minutes (org_id, env_id, minute, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 60000000, allow, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, minute, allow)
    DO UPDATE SET decisions = decision_minutes.decisions + excluded.decisions;
    INSERT INTO decision_hours (org_id, env_id, hour, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 3600000000, allow, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, hour, allow)
    DO UPDATE SET decisions = decision_hours.decisions + excluded.decisions;
    INSERT INTO decision_days (org_id, env_id, day, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 86400000000, allow, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, day, allow)
    DO UPDATE SET decisions = decision_days.decisions + excluded.decisions;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER decision_log_counts_inserted AFTER INSERT ON decision_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION decision_counts_inserted();

-- +goose StatementBegin
CREATE FUNCTION decision_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decision_minutes (org_id, env_id, minute, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 60000000, allow, -COUNT(*)
    FROM old_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, minute, allow)
    DO UPDATE SET decisions = decision_minutes.decisions + excluded.decisions;
    INSERT INTO decision_hours (org_id, env_id, hour, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 3600000000, allow, -COUNT(*)
    FROM old_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, hour, allow)
    DO UPDATE SET decisions = decision_hours.decisions + excluded.decisions;
    INSERT INTO decision_days (org_id, env_id, day, allow, decisions)
    SELECT org_id, env_id, created_at - created_at % 86400000000, allow, -COUNT(*)
    FROM old_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, env_id, day, allow)
    DO UPDATE SET decisions = decision_days.decisions + excluded.decisions;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER decision_log_counts_deleted AFTER DELETE ON decision_log
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION decision_counts_deleted();

INSERT INTO decision_minutes (org_id, env_id, minute, allow, decisions)
SELECT org_id, env_id, created_at - created_at % 60000000, allow, COUNT(*)
FROM decision_log
GROUP BY org_id, env_id, created_at - created_at % 60000000, allow;
INSERT INTO decision_hours (org_id, env_id, hour, allow, decisions)
SELECT org_id, env_id, minute - minute % 3600000000, allow, SUM(decisions)
FROM decision_minutes
GROUP BY org_id, env_id, minute - minute % 3600000000, allow;
INSERT INTO decision_days (org_id, env_id, day, allow, decisions)
SELECT org_id, env_id, hour - hour % 86400000000, allow, SUM(decisions)
FROM decision_hours
GROUP BY org_id, env_id, hour - hour % 86400000000, allow;

-- +goose Down
LOCK TABLE decision_log IN SHARE MODE;
DROP TRIGGER decision_log_counts_deleted ON decision_log;
DROP TRIGGER decision_log_counts_inserted ON decision_log;
DROP FUNCTION decision_counts_deleted();
DROP FUNCTION decision_counts_inserted();
DROP TABLE decision_days;
DROP TABLE decision_hours;
DROP TABLE decision_minutes;
