-- Deals on a pipeline, tasks with reminders, in-app notifications.
-- Times are UTC. Money stays an exact integer of 1/10000 units (amount_e4).

-- The pipeline's stages, edited by owners. A stage is never deleted (deals and
-- their history name it); active = false takes it off the board. kind says what
-- reaching it means: still open, won, or lost (a lost deal needs a reason).
CREATE TABLE deal_stages (
    code TEXT PRIMARY KEY NOT NULL,
    label TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    active BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO deal_stages (code, label, position, kind) VALUES
    ('new', 'New', 1, 'open'), ('qualified', 'Qualified', 2, 'open'),
    ('proposal', 'Proposal', 3, 'open'), ('negotiation', 'Negotiation', 4, 'open'),
    ('won', 'Won', 5, 'won'), ('lost', 'Lost', 6, 'lost');

ALTER TABLE deals ADD COLUMN lost_reason TEXT;
ALTER TABLE deals ADD COLUMN created_by TEXT;
CREATE INDEX deals_created ON deals(created_at, id);
CREATE INDEX deals_owner ON deals(owner_id, created_at, id);

-- Every stage a deal has been moved to, with when and by whom (the funnel
-- report reads this).
CREATE TABLE deal_stage_changes (
    id TEXT PRIMARY KEY NOT NULL,
    deal_id TEXT NOT NULL REFERENCES deals(id),
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    lost_reason TEXT,
    changed_at TIMESTAMP NOT NULL,
    changed_by TEXT
);
CREATE INDEX deal_stage_changes_deal ON deal_stage_changes(deal_id, changed_at);
CREATE INDEX deal_stage_changes_at ON deal_stage_changes(changed_at);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    notes TEXT,
    due_at TIMESTAMP NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    assignee_id TEXT NOT NULL REFERENCES users(id),
    -- The assignee's team when assigned: scopes read it like a client's team.
    team_id TEXT REFERENCES teams(id),
    client_id TEXT REFERENCES clients(id),
    deal_id TEXT REFERENCES deals(id),
    done_at TIMESTAMP,
    done_by TEXT,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Set in the same transaction as the notification they stand for, so a
    -- reminder or an escalation happens once, across restarts and nodes.
    reminded_at TIMESTAMP,
    escalated_at TIMESTAMP
);
CREATE INDEX tasks_assignee ON tasks(assignee_id, due_at, id);
CREATE INDEX tasks_team ON tasks(team_id, due_at, id);
CREATE INDEX tasks_client ON tasks(client_id, due_at);
CREATE INDEX tasks_deal ON tasks(deal_id);
CREATE INDEX tasks_open_due ON tasks(done_at, due_at);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('reminder', 'escalation')),
    task_id TEXT REFERENCES tasks(id),
    title TEXT NOT NULL,
    due_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP,
    -- E-mail outbox: the address when one is to be sent, when it went out,
    -- and the failed attempts so far.
    email_to TEXT,
    emailed_at TIMESTAMP,
    email_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);
-- Not unique: a rescheduled task is reminded again (reminded_at guards each round).
CREATE INDEX notifications_task ON notifications(task_id, kind, user_id);
CREATE INDEX notifications_outbox ON notifications(emailed_at, email_attempts);

-- Where a user wants reminders e-mailed (set by the user).
CREATE TABLE notification_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
    email TEXT,
    updated_at TIMESTAMP NOT NULL
);
