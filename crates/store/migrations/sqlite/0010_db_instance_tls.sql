-- TLS to rotation targets (issue 14). Rows registered before this migration were always
-- reached in plain TCP and keep doing so ('disabled'); new registrations record the mode the
-- service decided (verify-identity unless the host is loopback, or what the operator asked).
-- tls_ca holds PEM certificates trusted to sign the server's certificate, in the row itself so
-- that every node sharing a store has it.
ALTER TABLE db_instances ADD COLUMN tls_mode TEXT NOT NULL DEFAULT 'disabled'
    CHECK (tls_mode IN ('disabled', 'preferred', 'required', 'verify-identity'));
ALTER TABLE db_instances ADD COLUMN tls_ca TEXT;
