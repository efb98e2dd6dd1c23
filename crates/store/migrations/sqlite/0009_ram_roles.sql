-- RAM roles (issue 5, stage 4). Their policies live in ram_attachments with principal
-- 'role/<name>'; STS sessions are stateless tokens sealed by the root key, never stored.
CREATE TABLE ram_roles (
    role_name            TEXT PRIMARY KEY,
    role_id              TEXT    NOT NULL UNIQUE,
    description          TEXT    NOT NULL,
    trust_policy         TEXT    NOT NULL,
    max_session_duration INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
