-- CSV imports of clients. An upload is parsed once and staged here, visible only
-- to its uploader until it expires; the commit uses exactly the staged rows.
-- After the commit the staged rows are cleared (the clients hold the data).
CREATE TABLE import_batches (
    id TEXT PRIMARY KEY NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES users(id),
    uploaded_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_bytes BIGINT NOT NULL,
    encoding TEXT NOT NULL,
    delimiter TEXT NOT NULL,
    -- JSON: the header cells, and the data rows as [row number, [cells]].
    headers TEXT NOT NULL,
    staged_rows TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    -- JSON: the field of each column (null: ignored), and per-row duplicate
    -- decisions {"row number": "skip" | "merge" | "create"}.
    mapping TEXT NOT NULL,
    policy TEXT NOT NULL CHECK (policy IN ('skip', 'merge', 'create')),
    decisions TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('staged', 'committed')),
    committed_at TIMESTAMP,
    -- JSON: what the commit did (created, merged, skipped ids).
    result TEXT
);
CREATE INDEX import_batches_user ON import_batches(uploaded_by, uploaded_at);
CREATE INDEX import_batches_expiry ON import_batches(expires_at);
