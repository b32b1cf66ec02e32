-- SQLite's 011: channels that publish: one post per headline, with its picture, shaped by
-- the chat's own template (see storage/sqlite/migrations/011_channel_posts.sql for the why).

-- the item's picture as an absolute http(s) URL (NULL: none found)
ALTER TABLE headlines ADD COLUMN picture text;

-- how many of a push row's headlines went out, one post each, committed after every post
ALTER TABLE outbox ADD COLUMN posted integer NOT NULL DEFAULT 0;

-- the post format joins the format CHECK; pictures (1: posts carry the picture) and the
-- chat's own template (NULL: the default one). PostgreSQL alters in place where SQLite
-- rebuilt the table; the columns end in the same order.
ALTER TABLE chat_settings DROP CONSTRAINT chat_settings_format_check;
ALTER TABLE chat_settings ADD CONSTRAINT chat_settings_format_check
    CHECK (format IN ('full', 'compact', 'post'));
ALTER TABLE chat_settings
    ADD COLUMN pictures integer NOT NULL DEFAULT 1 CHECK (pictures IN (0, 1)),
    ADD COLUMN template text;
