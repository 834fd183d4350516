-- Data-loss controls: guarded exports (with their fingerprint seeds), decoy
-- clients and guarded reassignments. Times are UTC.

-- Every export request, whatever became of it: who, when, what, how many rows,
-- the file's hash and who approved or rejected it.
CREATE TABLE exports (
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
CREATE INDEX exports_user ON exports(requested_by, requested_at);
CREATE INDEX exports_state ON exports(state, requested_at);
CREATE INDEX exports_sha ON exports(file_sha256);

-- The file of a ready export until it expires (then the row goes; the record stays).
CREATE TABLE export_files (
    export_id TEXT PRIMARY KEY NOT NULL REFERENCES exports(id),
    content BLOB NOT NULL
);

-- Fingerprint records planted in one export's file. They are not clients: they
-- live only here, so no list, count or report of clients can include them.
CREATE TABLE export_seeds (
    id TEXT PRIMARY KEY NOT NULL,
    export_id TEXT NOT NULL REFERENCES exports(id),
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX export_seeds_export ON export_seeds(export_id);
CREATE INDEX export_seeds_email ON export_seeds(email);
CREATE INDEX export_seeds_phone ON export_seeds(phone);

-- Decoy clients: ordinary client rows that nobody has a reason to open.
CREATE TABLE decoys (
    client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients(id),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    note TEXT
);

-- Every client moved from one owner to another, with the reason.
CREATE TABLE reassignments (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    from_owner TEXT,
    to_owner TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX reassignments_by ON reassignments(by_user, at);

-- Bulk reassignments beyond the allowance wait for an owner.
CREATE TABLE reassign_requests (
    id TEXT PRIMARY KEY NOT NULL,
    requested_by TEXT NOT NULL REFERENCES users(id),
    requested_at TIMESTAMP NOT NULL,
    client_ids TEXT NOT NULL,
    to_owner TEXT NOT NULL REFERENCES users(id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'rejected')),
    decided_by TEXT REFERENCES users(id),
    decided_at TIMESTAMP,
    decision_comment TEXT
);
CREATE INDEX reassign_requests_state ON reassign_requests(state, requested_at);
