-- Which process runs a backup and when it last showed it was alive, so that a
-- run whose process died is found and marked interrupted instead of staying
-- "running" forever (src/backup/liveness.rs).
ALTER TABLE backup_runs ADD COLUMN node TEXT;
ALTER TABLE backup_runs ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE backup_runs ADD COLUMN interrupted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX backup_runs_unfinished ON backup_runs(finished_at);
