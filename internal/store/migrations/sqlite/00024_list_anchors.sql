-- 00024 creates list_anchors on PostgreSQL, where several nodes share the
-- cursors they keep for the next deep page by number (store/anchor.go). On
-- SQLite (one node) they stay in the node's memory: nothing to do.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
