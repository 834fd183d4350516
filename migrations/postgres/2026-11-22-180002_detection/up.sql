-- Theft detection: per-user daily counters kept in the same transaction as the
-- audit events they count (so baselines are cheap to read), the clients a user
-- viewed each day (for "distinct"), and the restrictions a detection response
-- put on a user.
CREATE TABLE usage_counts (
    user_id TEXT NOT NULL,
    -- UTC day (YYYY-MM-DD), a minute or ten-minute window, or '*' for a streak.
    day TEXT NOT NULL,
    metric TEXT NOT NULL,
    n BIGINT NOT NULL,
    -- The audit events counted: the evidence an alert links to.
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, metric, day)
);
CREATE TABLE usage_seen (
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (user_id, day, client_id)
);
CREATE TABLE user_restrictions (
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('step_up', 'suspend_exports', 'leaving')),
    since TIMESTAMP NOT NULL,
    alert_id TEXT,
    PRIMARY KEY (user_id, kind)
);

-- Departure mode: the client book of a user marked as leaving, as it stood then.
CREATE TABLE departure_book (
    user_id TEXT NOT NULL REFERENCES users(id),
    client_id TEXT NOT NULL,
    snapshot_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
