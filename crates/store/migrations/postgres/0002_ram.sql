-- RAM identities (the SQLite migrations 0008 and 0009): users, customer policies with
-- versions, policy attachments and roles. A user's access keys live in access_keys with
-- principal 'user/<name>'; a role's policies in ram_attachments with principal 'role/<name>'.
CREATE TABLE ram_users (
    user_name    TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT   NOT NULL UNIQUE,
    display_name TEXT   NOT NULL,
    email        TEXT   NOT NULL,
    mobile_phone TEXT   NOT NULL,
    comments     TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE TABLE ram_policies (
    policy_name     TEXT COLLATE "C" PRIMARY KEY,
    description     TEXT   NOT NULL,
    default_version TEXT   NOT NULL,
    next_version    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE ram_policy_versions (
    policy_name TEXT COLLATE "C" NOT NULL REFERENCES ram_policies (policy_name) ON DELETE CASCADE,
    version_id  TEXT COLLATE "C" NOT NULL,
    document    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);
CREATE TABLE ram_attachments (
    principal   TEXT COLLATE "C" NOT NULL,
    policy_type TEXT COLLATE "C" NOT NULL,
    policy_name TEXT COLLATE "C" NOT NULL,
    attached_at BIGINT NOT NULL,
    PRIMARY KEY (principal, policy_type, policy_name)
);
CREATE INDEX ram_attachments_by_policy ON ram_attachments (policy_type, policy_name);
CREATE INDEX access_keys_by_principal ON access_keys (principal);
CREATE TABLE ram_roles (
    role_name            TEXT COLLATE "C" PRIMARY KEY,
    role_id              TEXT   NOT NULL UNIQUE,
    description          TEXT   NOT NULL,
    trust_policy         TEXT   NOT NULL,
    max_session_duration BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
