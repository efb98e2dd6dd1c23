-- The number of secrets, kept by triggers in the same transaction as each insert and delete,
-- so an unfiltered ListSecrets gets its TotalCount without scanning the table.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) SELECT 'secrets', COUNT(*) FROM secrets;
CREATE TRIGGER secrets_count_insert AFTER INSERT ON secrets
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'secrets';
END;
CREATE TRIGGER secrets_count_delete AFTER DELETE ON secrets
BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'secrets';
END;
