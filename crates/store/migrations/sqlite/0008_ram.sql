-- RAM identities (issue 5): users, customer policies with versions, and policy attachments.
-- A user's access keys live in access_keys with principal 'user/<name>'.
CREATE TABLE ram_users (
    user_name    TEXT PRIMARY KEY,
    user_id      TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    mobile_phone TEXT    NOT NULL,
    comments     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE ram_policies (
    policy_name     TEXT PRIMARY KEY,
    description     TEXT    NOT NULL,
    default_version TEXT    NOT NULL,
    next_version    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE ram_policy_versions (
    policy_name TEXT    NOT NULL REFERENCES ram_policies (policy_name) ON DELETE CASCADE,
    version_id  TEXT    NOT NULL,
    document    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);
CREATE TABLE ram_attachments (
    principal   TEXT    NOT NULL,
    policy_type TEXT    NOT NULL,
    policy_name TEXT    NOT NULL,
    attached_at INTEGER NOT NULL,
    PRIMARY KEY (principal, policy_type, policy_name)
);
CREATE INDEX ram_attachments_by_policy ON ram_attachments (policy_type, policy_name);
CREATE INDEX access_keys_by_principal ON access_keys (principal);
