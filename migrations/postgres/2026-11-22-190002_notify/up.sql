-- Alert notices beyond the in-app list: the address owners and admins are
-- e-mailed at, and an outbox of deliveries (e-mail, webhook) drained by a job,
-- so a notice survives a restart and never holds up the request that raised
-- the alert.

-- A user's own address for security notices, set by an owner or admin (or
-- `holdfast user add --email`).
CREATE TABLE user_emails (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
    email TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Alerts raised and not yet fanned out to their deliveries (written in the
-- transaction that raises the alert).
CREATE TABLE alert_outbox (
    alert_id TEXT PRIMARY KEY NOT NULL REFERENCES alerts(id),
    queued_at TIMESTAMP NOT NULL
);

-- One notice of one alert to one recipient or webhook, with its attempts.
CREATE TABLE alert_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    target TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    gave_up_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(delivered_at, gave_up_at, next_attempt_at);
CREATE INDEX alert_deliveries_alert ON alert_deliveries(alert_id);
