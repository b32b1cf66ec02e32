-- SQLite's 015: a feed answering 200 with the very document it answered last time is
-- bookkept like a 304. feeds.body_hash is the hash of the last document stored (NULL until a
-- read is stored with one).
ALTER TABLE feeds ADD COLUMN body_hash text;
