-- The index as it was: no prefix indexes.
DROP TRIGGER clients_fts_update;
DROP TRIGGER clients_fts_delete;
DROP TRIGGER clients_fts_insert;
DROP TABLE clients_fts;
CREATE VIRTUAL TABLE clients_fts USING fts5(
    search_text, content='clients', content_rowid='pk',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO clients_fts(clients_fts) VALUES ('rebuild');
CREATE TRIGGER clients_fts_insert AFTER INSERT ON clients BEGIN
    INSERT INTO clients_fts(rowid, search_text) VALUES (new.pk, new.search_text);
END;
CREATE TRIGGER clients_fts_delete AFTER DELETE ON clients BEGIN
    INSERT INTO clients_fts(clients_fts, rowid, search_text) VALUES ('delete', old.pk, old.search_text);
END;
CREATE TRIGGER clients_fts_update AFTER UPDATE OF search_text ON clients BEGIN
    INSERT INTO clients_fts(clients_fts, rowid, search_text) VALUES ('delete', old.pk, old.search_text);
    INSERT INTO clients_fts(rowid, search_text) VALUES (new.pk, new.search_text);
END;
