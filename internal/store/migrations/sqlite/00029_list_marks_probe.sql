-- PostgreSQL's 00029 lets its list marks' counting probe their index;
-- SQLite's triggers already do.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
