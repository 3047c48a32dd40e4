-- list_anchors holds, on PostgreSQL, the cursors the nodes keep for the
-- next deep page by number of a list (store/anchor.go), so that a walk
-- whose pages a load balancer spreads over several nodes finds the cursor
-- the node before kept. list_key is a SHA-256 of the list, its filter,
-- sort, order and count cap; version is the environment's facts_versions
-- value the cursor was read at. Rows of another version are useless and
-- are deleted now and then, as are rows older than an hour. On SQLite
-- (one node) the cursors stay in the node's memory.

-- +goose Up
CREATE TABLE list_anchors (
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    list_key    BYTEA NOT NULL,
    page_offset BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    cursor      TEXT NOT NULL,
    total       BIGINT NOT NULL,
    capped      BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (env_id, list_key, page_offset)
);

-- +goose Down
DROP TABLE list_anchors;
