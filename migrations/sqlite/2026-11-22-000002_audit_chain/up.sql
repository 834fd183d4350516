-- The audit log becomes a hash chain: every event carries the hash of the one
-- before it, and audit_head holds the newest position and hash. Writers take the
-- head first (SQLite's write lock, PostgreSQL's row lock), so one installation has
-- exactly one chain however many app nodes write.
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_events ADD COLUMN hash BLOB;

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL
);
-- Events written before this migration stay unchained; the chain starts after them
-- from the all-zero genesis hash.
INSERT INTO audit_head (id, seq, hash)
    SELECT 1, COALESCE(MAX(seq), 0), zeroblob(32) FROM audit_events;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN
    SELECT RAISE(ABORT, 'the audit head is never deleted');
END;

-- Signed statements "the chain had this hash at this position at this time".
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    head_hash BLOB NOT NULL,
    at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
