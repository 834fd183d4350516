-- Old segments of the audit chain moved to signed files (`holdfast audit archive`).
-- A row is the signed statement "events first_seq..last_seq, chained from
-- first_prev_hash to last_hash, are in the file whose body hashes to body_sha256";
-- the signature is made with the checkpoint key, which is not in the database.
CREATE TABLE audit_archives (
    last_seq BIGINT PRIMARY KEY NOT NULL,
    first_seq BIGINT NOT NULL,
    events BIGINT NOT NULL,
    first_prev_hash BLOB NOT NULL,
    last_hash BLOB NOT NULL,
    body_sha256 BLOB NOT NULL,
    file_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives BEGIN
    SELECT RAISE(ABORT, 'audit archives are append-only');
END;
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives BEGIN
    SELECT RAISE(ABORT, 'audit archives are append-only');
END;

-- Events can now be deleted only once a signed archive covers them.
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_archives WHERE OLD.seq BETWEEN first_seq AND last_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (only archived segments can be pruned)');
END;
