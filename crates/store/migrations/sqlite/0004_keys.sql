-- KMS keys created through the API: automatic rotation settings, aliases, and the index that
-- answers "which secrets does this key protect" (ScheduleKeyDeletion refuses while any do).
-- rotation_interval_secs is NULL when automatic rotation is disabled.
ALTER TABLE keys ADD COLUMN rotation_interval_secs INTEGER;
CREATE TABLE aliases (
    alias_name TEXT PRIMARY KEY,
    key_id     TEXT    NOT NULL REFERENCES keys(key_id),
    created_at INTEGER NOT NULL
);
CREATE INDEX aliases_by_key ON aliases(key_id, alias_name);
CREATE INDEX secrets_by_key ON secrets(encryption_key_id);
