-- Exports of deals and invoices: the CHECK on exports.object widens. SQLite
-- changes a CHECK only by rebuilding the table, with foreign keys off (the
-- seeds and files reference it), so this migration runs outside diesel's
-- transaction and makes its own.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE exports_new (
    id TEXT PRIMARY KEY NOT NULL,
    requested_by TEXT NOT NULL REFERENCES users(id),
    requested_role TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    object TEXT NOT NULL CHECK (object IN ('clients', 'deals', 'invoices')),
    format TEXT NOT NULL CHECK (format IN ('csv', 'xlsx', 'json')),
    filter TEXT NOT NULL,
    reason TEXT,
    state TEXT NOT NULL CHECK (state IN ('ready', 'pending', 'rejected', 'expired')),
    row_count INTEGER NOT NULL,
    seed_count INTEGER NOT NULL DEFAULT 0,
    -- Which allowances the request went beyond (JSON), for the approver.
    over_allowance TEXT,
    decided_by TEXT REFERENCES users(id),
    decided_at TIMESTAMP,
    decision_comment TEXT,
    file_sha256 TEXT,
    file_bytes BIGINT,
    ready_at TIMESTAMP,
    expires_at TIMESTAMP,
    downloads INTEGER NOT NULL DEFAULT 0
);
INSERT INTO exports_new SELECT * FROM exports;
DROP TABLE exports;
ALTER TABLE exports_new RENAME TO exports;
CREATE INDEX exports_user ON exports(requested_by, requested_at);
CREATE INDEX exports_state ON exports(state, requested_at);
CREATE INDEX exports_sha ON exports(file_sha256);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
