-- A feed that answers 200 with the very document it answered last time (a server without
-- ETag or Last-Modified, or one that ignores them) is bookkept like a 304: not parsed, not
-- stored again. feeds.body_hash is the hash of the last document stored (bot/feeds/poller.py),
-- NULL until a read is stored with one.
ALTER TABLE feeds ADD COLUMN body_hash TEXT;
