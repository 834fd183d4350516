DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
