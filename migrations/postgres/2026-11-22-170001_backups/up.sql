-- Every backup run (scheduled, console, admin page) and what became of it. The
-- archives themselves live in the destination directories; this is the history
-- the admin page shows and where the next manifest finds its predecessor's hash.
CREATE TABLE backup_runs (
    id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('schedule', 'console', 'admin')),
    actor TEXT,
    ok BOOLEAN,
    archive TEXT,
    manifest_sha256 TEXT,
    ciphertext_sha256 TEXT,
    size_bytes BIGINT,
    row_count BIGINT,
    destinations TEXT NOT NULL DEFAULT '[]',
    error TEXT
);
CREATE INDEX backup_runs_started ON backup_runs(started_at);
