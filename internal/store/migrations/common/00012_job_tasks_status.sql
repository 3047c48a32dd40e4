-- +goose Up
-- A job's next task by status, and the tasks left running, are found
-- without reading every task of the job (an import may have millions).
CREATE INDEX job_tasks_status ON job_tasks (status, job_id, seq);

-- +goose Down
DROP INDEX job_tasks_status;
