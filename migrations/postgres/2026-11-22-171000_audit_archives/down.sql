DROP TRIGGER audit_events_no_truncate ON audit_events;
DROP TRIGGER audit_head_no_truncate ON audit_head;
DROP TRIGGER audit_checkpoints_no_truncate ON audit_checkpoints;
DROP FUNCTION audit_no_truncate();
DROP TRIGGER audit_no_update_delete ON audit_events;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
DROP FUNCTION audit_events_guard();
DROP TABLE audit_archives;
