-- Tags on KMS keys (secrets keep theirs in secret_tags, removed with the secret).
CREATE TABLE key_tags (
    key_id    TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
);
