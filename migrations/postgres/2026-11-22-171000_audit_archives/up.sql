-- Old segments of the audit chain moved to signed files (`holdfast audit archive`).
-- A row is the signed statement "events first_seq..last_seq, chained from
-- first_prev_hash to last_hash, are in the file whose body hashes to body_sha256";
-- the signature is made with the checkpoint key, which is not in the database.
CREATE TABLE audit_archives (
    last_seq BIGINT PRIMARY KEY NOT NULL,
    first_seq BIGINT NOT NULL,
    events BIGINT NOT NULL,
    first_prev_hash BYTEA NOT NULL,
    last_hash BYTEA NOT NULL,
    body_sha256 BYTEA NOT NULL,
    file_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL
);
CREATE TRIGGER audit_archives_no_update_delete BEFORE UPDATE OR DELETE ON audit_archives
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

-- Events can now be deleted only once a signed archive covers them.
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_archives WHERE OLD.seq BETWEEN first_seq AND last_seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (only archived segments can be pruned)';
END;
$$;
DROP TRIGGER audit_no_update_delete ON audit_events;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();

-- TRUNCATE skips row triggers; refuse it on every audit table.
CREATE FUNCTION audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit tables are never truncated';
END;
$$;
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();
