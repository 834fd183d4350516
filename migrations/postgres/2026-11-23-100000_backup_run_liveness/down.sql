DROP INDEX backup_runs_unfinished;
ALTER TABLE backup_runs DROP COLUMN interrupted;
ALTER TABLE backup_runs DROP COLUMN heartbeat_at;
ALTER TABLE backup_runs DROP COLUMN node;
