DROP TABLE departure_book;
DROP TABLE user_restrictions;
DROP TABLE usage_seen;
DROP TABLE usage_counts;
