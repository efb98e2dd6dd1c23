-- TLS to rotation targets (issue 14); as SQLite's 0010. Existing rows keep plain TCP
-- ('disabled'); the default is dropped afterwards, so every later insert names its mode.
ALTER TABLE db_instances ADD COLUMN tls_mode TEXT NOT NULL DEFAULT 'disabled'
    CHECK (tls_mode IN ('disabled', 'preferred', 'required', 'verify-identity'));
ALTER TABLE db_instances ALTER COLUMN tls_mode DROP DEFAULT;
ALTER TABLE db_instances ADD COLUMN tls_ca TEXT;
