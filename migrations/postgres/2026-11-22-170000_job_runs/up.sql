-- Scheduled jobs run once across app nodes: the first node to insert the
-- (job, slot) row runs it; the others see the row and skip.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    slot TIMESTAMP NOT NULL,
    node TEXT NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    ok BOOLEAN,
    note TEXT,
    PRIMARY KEY (job, slot)
);
CREATE INDEX job_runs_success ON job_runs(job, ok, slot);

-- Alerts for owners and admins (security, backups). An open alert with a dedupe
-- key suppresses another with the same key until it is acknowledged.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'high', 'critical')),
    audience TEXT NOT NULL CHECK (audience IN ('owners', 'admins')),
    subject_user TEXT REFERENCES users(id),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    evidence TEXT NOT NULL,
    dedupe_key TEXT,
    raised_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT REFERENCES users(id),
    ack_comment TEXT
);
CREATE UNIQUE INDEX alerts_open_dedupe ON alerts(dedupe_key)
    WHERE dedupe_key IS NOT NULL AND acknowledged_at IS NULL;
CREATE INDEX alerts_audience_raised ON alerts(audience, raised_at);
