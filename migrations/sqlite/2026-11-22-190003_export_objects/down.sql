-- Back to client exports only: the records of other exports go, with their
-- files and seeds.
PRAGMA foreign_keys = OFF;
BEGIN;
DELETE FROM export_seeds WHERE export_id IN (SELECT id FROM exports WHERE object <> 'clients');
DELETE FROM export_files WHERE export_id IN (SELECT id FROM exports WHERE object <> 'clients');
CREATE TABLE exports_new (
    id TEXT PRIMARY KEY NOT NULL,
    requested_by TEXT NOT NULL REFERENCES users(id),
    requested_role TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    object TEXT NOT NULL CHECK (object IN ('clients')),
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
INSERT INTO exports_new SELECT * FROM exports WHERE object = 'clients';
DROP TABLE exports;
ALTER TABLE exports_new RENAME TO exports;
CREATE INDEX exports_user ON exports(requested_by, requested_at);
CREATE INDEX exports_state ON exports(state, requested_at);
CREATE INDEX exports_sha ON exports(file_sha256);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
