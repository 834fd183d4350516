-- Nothing to change on SQLite: FTS5's `unicode61 remove_diacritics 2` already
-- ignores Latin diacritics (the PostgreSQL migration of the same name makes
-- PostgreSQL do the same). Kept so that both backends list the same migrations.
SELECT 1;
