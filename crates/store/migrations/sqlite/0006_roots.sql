-- Roots of trust. Every wrapped KMS key version and sealed access key secret records which
-- root made it, so `openkms rekey` can move rows from one root to another one row at a time
-- while the server serves. States: 'active' (new wraps use it; exactly one), 'retiring'
-- (still opens rows, rekey is moving them away), 'retired' (no row uses it any more).
-- `locator` tells another process where to find the root: a file path, or a PKCS#11 key label.
CREATE TABLE roots (
    root_id    TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('file', 'pkcs11')),
    locator    TEXT,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX roots_one_active ON roots(state) WHERE state = 'active';
-- Existing installations: their one root is the file root recorded at initialisation.
INSERT INTO roots (root_id, kind, locator, state, created_at)
    SELECT root_fingerprint, 'file', NULL, 'active', created_at FROM meta;
ALTER TABLE key_versions ADD COLUMN root_id TEXT NOT NULL DEFAULT '';
UPDATE key_versions SET root_id = (SELECT root_fingerprint FROM meta WHERE id = 1);
ALTER TABLE access_keys ADD COLUMN root_id TEXT NOT NULL DEFAULT '';
UPDATE access_keys SET root_id = (SELECT root_fingerprint FROM meta WHERE id = 1);
CREATE INDEX key_versions_by_root ON key_versions(root_id);
CREATE INDEX access_keys_by_root ON access_keys(root_id);
-- No row may be written under a root that is retired or unknown: once rekey has retired a
-- root (after checking no row uses it), a server that still wraps with it fails instead of
-- leaving a row that the retired root's owner may have thrown away.
CREATE TRIGGER key_versions_live_root_insert BEFORE INSERT ON key_versions
WHEN NOT EXISTS (SELECT 1 FROM roots WHERE root_id = NEW.root_id AND state <> 'retired')
BEGIN SELECT RAISE(ABORT, 'key version wrapped by a retired or unknown root'); END;
CREATE TRIGGER key_versions_live_root_update BEFORE UPDATE OF root_id ON key_versions
WHEN NOT EXISTS (SELECT 1 FROM roots WHERE root_id = NEW.root_id AND state <> 'retired')
BEGIN SELECT RAISE(ABORT, 'key version wrapped by a retired or unknown root'); END;
CREATE TRIGGER access_keys_live_root_insert BEFORE INSERT ON access_keys
WHEN NOT EXISTS (SELECT 1 FROM roots WHERE root_id = NEW.root_id AND state <> 'retired')
BEGIN SELECT RAISE(ABORT, 'access key sealed by a retired or unknown root'); END;
CREATE TRIGGER access_keys_live_root_update BEFORE UPDATE OF root_id ON access_keys
WHEN NOT EXISTS (SELECT 1 FROM roots WHERE root_id = NEW.root_id AND state <> 'retired')
BEGIN SELECT RAISE(ABORT, 'access key sealed by a retired or unknown root'); END;
