-- Times are UTC. Money is an exact integer of 1/10000 units (amount_e4).
-- Public ids are random UUIDs; `pk` is internal and never leaves the server.

CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'sales')),
    team_id TEXT REFERENCES teams(id),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ip TEXT,
    user_agent TEXT,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE throttle (
    key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits INTEGER NOT NULL
);

CREATE TABLE client_statuses (
    code TEXT PRIMARY KEY NOT NULL,
    label TEXT NOT NULL,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO client_statuses (code, label, position) VALUES
    ('new', 'New', 1), ('cold', 'Cold', 2), ('warm', 'Warm', 3), ('hot', 'Hot', 4),
    ('regular', 'Regular', 5), ('vip', 'VIP', 6), ('lost', 'Lost', 7);

CREATE TABLE clients (
    pk BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name TEXT NOT NULL,
    company TEXT,
    status TEXT NOT NULL REFERENCES client_statuses(code),
    source TEXT,
    address TEXT,
    owner_id TEXT REFERENCES users(id),
    team_id TEXT REFERENCES teams(id),
    duplicate_of TEXT,
    search_text TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    deleted_by TEXT
);
CREATE INDEX clients_owner ON clients(owner_id, created_at, id);
CREATE INDEX clients_team ON clients(team_id, created_at, id);
CREATE INDEX clients_created ON clients(created_at, id);

-- 'simple' configuration: no stemming, so names in any script match as written.
ALTER TABLE clients ADD COLUMN search_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX clients_search ON clients USING GIN (search_tsv);

CREATE TABLE client_tags (
    client_id TEXT NOT NULL REFERENCES clients(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (client_id, tag)
);
CREATE INDEX client_tags_tag ON client_tags(tag);

CREATE TABLE client_contacts (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value TEXT NOT NULL,
    normalized TEXT NOT NULL,
    label TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX client_contacts_client ON client_contacts(client_id);
CREATE INDEX client_contacts_normalized ON client_contacts(kind, normalized);

CREATE TABLE timeline_entries (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    kind TEXT NOT NULL CHECK (kind IN ('call', 'email', 'meeting', 'note', 'status_change', 'owner_change', 'created', 'deleted', 'restored')),
    occurred_at TIMESTAMP NOT NULL,
    author_id TEXT REFERENCES users(id),
    subject TEXT,
    body TEXT,
    call_direction TEXT CHECK (call_direction IN ('inbound', 'outbound')),
    call_duration_secs INTEGER,
    call_outcome TEXT,
    recording_url TEXT,
    old_value TEXT,
    new_value TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX timeline_client ON timeline_entries(client_id, occurred_at, id);

CREATE TABLE deals (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    title TEXT NOT NULL,
    amount_e4 BIGINT NOT NULL,
    currency TEXT NOT NULL,
    stage TEXT NOT NULL,
    expected_close DATE,
    owner_id TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX deals_client ON deals(client_id);

CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at TIMESTAMP NOT NULL,
    request_id TEXT,
    actor_id TEXT,
    actor_role TEXT,
    session_ref TEXT,
    action TEXT NOT NULL,
    object_kind TEXT,
    object_ids TEXT NOT NULL,
    object_count INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX audit_at ON audit_events(at);
CREATE INDEX audit_actor ON audit_events(actor_id, at);
-- The application never edits or deletes audit events.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
