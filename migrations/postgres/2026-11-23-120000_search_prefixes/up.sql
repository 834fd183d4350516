-- Nothing to change on PostgreSQL: its GIN index answers short prefixes from
-- the index already (the SQLite migration of the same name adds FTS5 prefix
-- indexes). Kept so that both backends list the same migrations.
SELECT 1;
