-- The audit log becomes a hash chain: every event carries the hash of the one
-- before it, and audit_head holds the newest position and hash. Writers lock the
-- head row first, so one installation has exactly one chain however many app nodes
-- write to this database.
ALTER TABLE audit_events ADD COLUMN prev_hash BYTEA, ADD COLUMN hash BYTEA;

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
-- Events written before this migration stay unchained; the chain starts after them
-- from the all-zero genesis hash.
INSERT INTO audit_head (id, seq, hash)
    SELECT 1, COALESCE(MAX(seq), 0), decode(repeat('00', 32), 'hex') FROM audit_events;
CREATE FUNCTION audit_head_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit head is never deleted';
END;
$$;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_keep();

-- Signed statements "the chain had this hash at this position at this time".
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    head_hash BYTEA NOT NULL,
    at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
