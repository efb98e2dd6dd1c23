-- openkms schema v1 (SQLite). Only sealed bytes are stored: secret values under data keys,
-- data keys under KMS key versions, key material and access key secrets under the root key.
CREATE TABLE meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    account_id       TEXT    NOT NULL,
    root_fingerprint TEXT    NOT NULL,
    default_instance TEXT    NOT NULL,
    service_key_id   TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
CREATE TABLE keys (
    key_id             TEXT PRIMARY KEY,
    instance_id        TEXT    NOT NULL REFERENCES instances(instance_id),
    key_spec           TEXT    NOT NULL,
    key_usage          TEXT    NOT NULL,
    key_state          TEXT    NOT NULL,
    creator            TEXT    NOT NULL,
    description        TEXT    NOT NULL DEFAULT '',
    primary_version_id TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    delete_at          INTEGER
);
CREATE TABLE key_versions (
    key_id           TEXT    NOT NULL REFERENCES keys(key_id),
    version_id       TEXT    NOT NULL,
    wrapped_material BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (key_id, version_id)
);
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    sealed_secret BLOB    NOT NULL,
    principal     TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE secrets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    secret_type        TEXT    NOT NULL,
    description        TEXT    NOT NULL,
    encryption_key_id  TEXT,
    dkms_instance_id   TEXT,
    extended_config    TEXT,
    rotation_enabled   INTEGER NOT NULL,
    rotation_interval  INTEGER,
    next_rotation_at   INTEGER,
    last_rotation_at   INTEGER,
    policy             TEXT    NOT NULL,
    stages             TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    planned_delete_at  INTEGER
);
CREATE INDEX secrets_planned_delete ON secrets(planned_delete_at) WHERE planned_delete_at IS NOT NULL;
CREATE TABLE secret_versions (
    secret_id      INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version_id     TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    data_type      TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    key_version_id TEXT    NOT NULL,
    wrapped_key    BLOB    NOT NULL,
    ciphertext     BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (secret_id, version_id)
);
CREATE INDEX secret_versions_seq ON secret_versions(secret_id, seq);
CREATE TABLE secret_tags (
    secret_id INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    tag_key   TEXT    NOT NULL,
    tag_value TEXT    NOT NULL,
    PRIMARY KEY (secret_id, tag_key)
);
