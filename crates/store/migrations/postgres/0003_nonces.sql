-- The nonce replay window shared by every node: a signed request's nonce is recorded until
-- its timestamp leaves the 15-minute window, and a second request with the same access key and
-- nonce is refused by whichever node it reaches. UNLOGGED: written on every request, so kept
-- out of the WAL; a PostgreSQL crash (or a failover to a standby) empties it, which re-opens the
-- window for requests signed in the 15 minutes before (the nodes' own in-memory windows still
-- refuse what each of them saw). Rows past expires_at are deleted by the purge loop.
CREATE UNLOGGED TABLE nonces (
    access_key_id TEXT COLLATE "C" NOT NULL,
    nonce         TEXT COLLATE "C" NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
