-- Key versions, automatic rotation and the key deletion job. The last rotation is the primary
-- version's creation, so it needs no column of its own; these indexes serve ListKeyVersions
-- and the deletion job's scan for keys whose DeleteDate has passed.
CREATE INDEX key_versions_by_created ON key_versions(key_id, created_at);
CREATE INDEX keys_delete_at ON keys(delete_at) WHERE delete_at IS NOT NULL;
