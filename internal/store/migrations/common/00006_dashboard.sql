-- +goose Up
-- Dashboard sign-in: a member's password (argon2id, PHC string format; ''
-- means none set) and the sessions of signed-in members. A session is kept
-- by the SHA-256 of its cookie only.
ALTER TABLE members ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL DEFAULT '',
    env_id       TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    client_ip    TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_member ON sessions (member_id);

-- One-time links with which a member chooses a password (the first Admin
-- after init, an invited member, a reset by an Admin); kept by hash.
CREATE TABLE member_tokens (
    token_sha256 TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX member_tokens_member ON member_tokens (member_id);

-- +goose Down
DROP TABLE member_tokens;
DROP TABLE sessions;
ALTER TABLE members DROP COLUMN password_hash;
