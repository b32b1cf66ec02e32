-- Feeds have handles: the short names `from:HANDLE` takes in topics and searches.
--   handle:             lowercase ASCII letters, digits and `-`, at most 32 characters, unique
--                       among all feeds (removed ones too: adding a feed back revives the
--                       topics that name it). Made from the feed's name, else its title, else
--                       its host (bot/text/handles.py); existing feeds get theirs from the
--                       Python step that runs after this script (storage/sqlite/handles.py).
--   handle_provisional: 1 while the handle comes from the host only, the feed never read with
--                       a title: its first read with one replaces it. /feeds handle makes a
--                       handle final.
-- Topics hold a feed by its id (`from:#12`), never by its handle, so a renamed handle keeps
-- them and they are shown with the new one.
ALTER TABLE feeds ADD COLUMN handle TEXT;
ALTER TABLE feeds ADD COLUMN handle_provisional INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX feeds_handle ON feeds (handle);
