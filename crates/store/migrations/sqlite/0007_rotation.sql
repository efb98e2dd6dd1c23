-- Managed rotation: the database instances an operator registered (openkms's own registry, as
-- there is no RDS control plane), each secret's rotation progress, and the scheduler's lease.
CREATE TABLE db_instances (
    instance_id  TEXT PRIMARY KEY,
    engine       TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    admin_secret TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
-- JSON of RotationProgress: the pending version of an unfinished rotation, failed attempts.
ALTER TABLE secrets ADD COLUMN rotation_state TEXT NOT NULL DEFAULT '{}';
-- When the scheduler should next look at the secret (NULL: never); kept by the store.
ALTER TABLE secrets ADD COLUMN rotation_due_at INTEGER;
ALTER TABLE secrets ADD COLUMN rotation_lease_owner TEXT;
ALTER TABLE secrets ADD COLUMN rotation_lease_until INTEGER;
CREATE INDEX secrets_rotation_due ON secrets(rotation_due_at) WHERE rotation_due_at IS NOT NULL;
