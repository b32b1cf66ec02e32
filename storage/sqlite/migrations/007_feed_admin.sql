-- Feeds run from Telegram: admins add, name, pause and remove them, so the feeds table is
-- now the list the poller reads (FEED_URLS adds its feeds at each start).
--   name:             the name an admin gave with /feeds add URL name (else the feed's title)
--   paused:           1 while an admin has paused it: never fetched
--   removed_at:       when it was removed; its headlines stay in the archive, and adding the
--                     URL again brings the row back with a new baseline
--   added_at/_by:     when and by whom (a Telegram user id; NULL for FEED_URLS or the CLI)
--   interval_seconds: the feed's own interval when Retry-After, Cache-Control max-age or
--                     RSS <ttl> stretched it past POLL_INTERVAL_SECONDS (NULL: the default)
ALTER TABLE feeds ADD COLUMN name TEXT;
ALTER TABLE feeds ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN removed_at REAL;
ALTER TABLE feeds ADD COLUMN added_at REAL;
ALTER TABLE feeds ADD COLUMN added_by INTEGER;
ALTER TABLE feeds ADD COLUMN interval_seconds REAL;

-- One story, once: a headline that tells a story another feed already brought (the same
-- canonical link, or the same normalised title within 48 hours) is stored for its feed
-- but points at the first one with story_id, is never routed, and is listed once.
--   story_id:       the story's first headline (NULL: this headline is the first)
--   canonical_link: the link without scheme/host case, trailing slash, utm_*, fbclid,
--                   gclid or fragment
--   title_key:      the title folded (case, accents, punctuation, spacing); NULL when too
--                   short to tell stories apart
ALTER TABLE headlines ADD COLUMN story_id INTEGER;
ALTER TABLE headlines ADD COLUMN canonical_link TEXT;
ALTER TABLE headlines ADD COLUMN title_key TEXT;
CREATE INDEX headlines_canonical ON headlines (canonical_link) WHERE canonical_link IS NOT NULL;
CREATE INDEX headlines_title_key ON headlines (title_key, first_seen_at)
    WHERE title_key IS NOT NULL;
CREATE INDEX headlines_story ON headlines (story_id) WHERE story_id IS NOT NULL;
CREATE INDEX headlines_feed_seen ON headlines (feed_id, first_seen_at);
