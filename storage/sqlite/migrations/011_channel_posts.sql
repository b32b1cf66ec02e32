-- Channels that publish: one post per headline, with its picture, shaped by the chat's own
-- template.
--
-- headlines.picture: the item's picture as an absolute http(s) URL (NULL: none found). The
-- bot never downloads it: Telegram fetches the URL when a post carries it.
ALTER TABLE headlines ADD COLUMN picture TEXT;

-- outbox.posted: how many of a push row's headlines went out, one post each (the post
-- format), committed after every post. A row put back after a crash or a 429 goes on from
-- there, so at most the one post in flight is repeated. Routing never adds headlines to a
-- row already under way (posted > 0): they start a new row, so `posted` always counts the
-- first headlines of `items`.
ALTER TABLE outbox ADD COLUMN posted INTEGER NOT NULL DEFAULT 0;

-- chat_settings gains the post format (its CHECK list changes, so the table is rebuilt),
-- and two columns:
--   pictures: 1 when posts carry the headline's picture (sendPhoto), 0 for text only
--   template: the chat's own post template (NULL: the default one)
CREATE TABLE chat_settings_new (
    chat_id        INTEGER PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE ON UPDATE CASCADE,
    digest_times   TEXT    NOT NULL DEFAULT ''
                   CHECK (digest_times = '' OR digest_times GLOB '[0-2][0-9]:[0-5][0-9]*'),
    timezone       TEXT    NOT NULL DEFAULT 'UTC',
    quiet_start    TEXT    CHECK (quiet_start GLOB '[0-2][0-9]:[0-5][0-9]'),
    quiet_end      TEXT    CHECK (quiet_end GLOB '[0-2][0-9]:[0-5][0-9]'),
    language       TEXT    NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es')),
    format         TEXT    NOT NULL DEFAULT 'full' CHECK (format IN ('full', 'compact', 'post')),
    previews       INTEGER NOT NULL DEFAULT 1 CHECK (previews IN (0, 1)),
    digest_since   REAL,
    last_digest_at REAL,
    updated_at     REAL    NOT NULL,
    pictures       INTEGER NOT NULL DEFAULT 1 CHECK (pictures IN (0, 1)),
    template       TEXT,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
INSERT INTO chat_settings_new (chat_id, digest_times, timezone, quiet_start, quiet_end,
    language, format, previews, digest_since, last_digest_at, updated_at)
SELECT chat_id, digest_times, timezone, quiet_start, quiet_end, language, format, previews,
    digest_since, last_digest_at, updated_at FROM chat_settings;
DROP TABLE chat_settings;
ALTER TABLE chat_settings_new RENAME TO chat_settings;
CREATE INDEX chat_settings_digests ON chat_settings (chat_id) WHERE digest_times != '';
