-- SQLite's 012: feeds have handles, the short names `from:HANDLE` takes in topics and
-- searches (see storage/sqlite/migrations/012_feed_handles.sql for the rules). SQLite's
-- Python step gives the feeds already stored theirs; here the feed repository gives every
-- feed without one its handle whenever it inserts a feed (storage/postgres/feeds.py), and a
-- PostgreSQL database older than this has no feeds outside development.
ALTER TABLE feeds ADD COLUMN handle text;
ALTER TABLE feeds ADD COLUMN handle_provisional integer NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX feeds_handle ON feeds (handle);
