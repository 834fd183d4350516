-- The owner's audit views filter by action (the last `audit.verify`, exports,
-- sign-ins) and page newest first; without this index each such question reads
-- the whole log backwards.
CREATE INDEX audit_action ON audit_events(action, seq);
