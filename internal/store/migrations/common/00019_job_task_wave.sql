-- +goose Up
-- The tasks of one job that may run at the same time (on several nodes)
-- share a wave: the seq of the wave's first task. 0 (tasks stored before
-- waves) is a wave of its own task: they run one after another, as before.
ALTER TABLE job_tasks ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE job_tasks DROP COLUMN wave;
