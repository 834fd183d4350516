DROP TABLE notification_settings;
DROP TABLE notifications;
DROP TABLE tasks;
DROP TABLE deal_stage_changes;
DROP INDEX deals_owner;
DROP INDEX deals_created;
ALTER TABLE deals DROP COLUMN created_by;
ALTER TABLE deals DROP COLUMN lost_reason;
DROP TABLE deal_stages;
