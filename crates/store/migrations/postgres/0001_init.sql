-- openkms schema v1 (PostgreSQL): the SQLite schema through its migration 0007, in one step.
-- Only sealed bytes are stored. Text columns that are sorted or compared by the API use the
-- "C" collation, so orderings are bytewise, exactly as on SQLite, whatever the database's
-- default collation.
CREATE TABLE meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    account_id       TEXT    NOT NULL,
    root_fingerprint TEXT    NOT NULL,
    default_instance TEXT    NOT NULL,
    service_key_id   TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL
);
CREATE TABLE instances (
    instance_id TEXT COLLATE "C" PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
CREATE TABLE roots (
    root_id    TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('file', 'pkcs11')),
    locator    TEXT,
    state      TEXT   NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX roots_one_active ON roots(state) WHERE state = 'active';
CREATE TABLE keys (
    -- Insertion order (SQLite's rowid): ListKeys pages in creation order.
    seq                    BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    key_id                 TEXT COLLATE "C" PRIMARY KEY,
    instance_id            TEXT   NOT NULL REFERENCES instances(instance_id),
    key_spec               TEXT   NOT NULL,
    key_usage              TEXT   NOT NULL,
    key_state              TEXT   NOT NULL,
    creator                TEXT   NOT NULL,
    description            TEXT   NOT NULL DEFAULT '',
    primary_version_id     TEXT   NOT NULL,
    created_at             BIGINT NOT NULL,
    delete_at              BIGINT,
    rotation_interval_secs BIGINT
);
CREATE INDEX keys_delete_at ON keys(delete_at) WHERE delete_at IS NOT NULL;
CREATE TABLE key_versions (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    key_id           TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id),
    version_id       TEXT COLLATE "C" NOT NULL,
    wrapped_material BYTEA  NOT NULL,
    created_at       BIGINT NOT NULL,
    root_id          TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (key_id, version_id)
);
CREATE INDEX key_versions_by_created ON key_versions(key_id, created_at);
CREATE INDEX key_versions_by_root ON key_versions(root_id);
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    sealed_secret BYTEA  NOT NULL,
    principal     TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    root_id       TEXT COLLATE "C" NOT NULL
);
CREATE INDEX access_keys_by_root ON access_keys(root_id);
CREATE TABLE secrets (
    -- An identity is never reused, like SQLite's AUTOINCREMENT: a purged secret's id never
    -- names a later secret of the same name.
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_type          TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    encryption_key_id    TEXT COLLATE "C",
    dkms_instance_id     TEXT COLLATE "C",
    extended_config      TEXT,
    rotation_enabled     BOOLEAN NOT NULL,
    rotation_interval    BIGINT,
    next_rotation_at     BIGINT,
    last_rotation_at     BIGINT,
    policy               TEXT    NOT NULL,
    stages               TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    planned_delete_at    BIGINT,
    -- JSON of RotationProgress.
    rotation_state       TEXT    NOT NULL DEFAULT '{}',
    -- When the scheduler should next look at the secret (NULL: never); kept by the store.
    rotation_due_at      BIGINT,
    rotation_lease_owner TEXT,
    rotation_lease_until BIGINT
);
CREATE INDEX secrets_planned_delete ON secrets(planned_delete_at) WHERE planned_delete_at IS NOT NULL;
CREATE INDEX secrets_by_key ON secrets(encryption_key_id);
CREATE INDEX secrets_rotation_due ON secrets(rotation_due_at) WHERE rotation_due_at IS NOT NULL;
CREATE TABLE secret_versions (
    secret_id      BIGINT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version_id     TEXT COLLATE "C" NOT NULL,
    seq            BIGINT NOT NULL,
    data_type      TEXT   NOT NULL,
    key_id         TEXT COLLATE "C" NOT NULL,
    key_version_id TEXT   NOT NULL,
    wrapped_key    BYTEA  NOT NULL,
    ciphertext     BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (secret_id, version_id)
);
CREATE INDEX secret_versions_seq ON secret_versions(secret_id, seq);
CREATE INDEX secret_versions_by_key ON secret_versions(key_id);
CREATE TABLE secret_tags (
    secret_id BIGINT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    tag_key   TEXT COLLATE "C" NOT NULL,
    tag_value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (secret_id, tag_key)
);
CREATE TABLE key_tags (
    key_id    TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    tag_key   TEXT COLLATE "C" NOT NULL,
    tag_value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (key_id, tag_key)
);
CREATE TABLE aliases (
    alias_name TEXT COLLATE "C" PRIMARY KEY,
    key_id     TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id),
    created_at BIGINT NOT NULL
);
CREATE INDEX aliases_by_key ON aliases(key_id, alias_name);
CREATE TABLE db_instances (
    instance_id  TEXT COLLATE "C" PRIMARY KEY,
    engine       TEXT   NOT NULL,
    address      TEXT   NOT NULL,
    admin_secret TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
-- No row may be written under a root that is retired or unknown (see the SQLite migration
-- 0006). The root row is read FOR SHARE: a concurrent retire_roots, which locks the retiring
-- roots FOR UPDATE before checking that no row uses them, either waits for this write (and
-- then sees its row) or commits first (and this check sees 'retired').
CREATE FUNCTION openkms_live_root() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM roots WHERE root_id = NEW.root_id AND state <> 'retired' FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% row wrapped by a retired or unknown root', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER key_versions_live_root BEFORE INSERT OR UPDATE OF root_id ON key_versions
    FOR EACH ROW EXECUTE FUNCTION openkms_live_root();
CREATE TRIGGER access_keys_live_root BEFORE INSERT OR UPDATE OF root_id ON access_keys
    FOR EACH ROW EXECUTE FUNCTION openkms_live_root();
