DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
DROP FUNCTION audit_head_keep();
ALTER TABLE audit_events DROP COLUMN hash, DROP COLUMN prev_hash;
