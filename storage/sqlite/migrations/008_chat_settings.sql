-- Each chat chooses how and when: one row per chat that has changed a setting or whose
-- language was taken from the user who started it. A chat without a row has the defaults.
--   digest_times:   local times of day 'HH:MM,HH:MM' (up to four), '' = no digest: pushes
--                   go out when found
--   timezone:       an IANA name, 'UTC', or a fixed offset 'UTC-04:00'
--   quiet_start/_end: local 'HH:MM' window (it may wrap past midnight); NULL = no quiet hours
--   language:       the catalog replies are written from
--   format:         'full' (link, summary, date, topics) or 'compact' (linked titles only)
--   previews:       Telegram's link preview for a message holding a single headline
--   digest_since:   when digest_times were last set: digest times before it owe nothing
--   last_digest_at: when the chat's last digest was sent (shown by /settings)
CREATE TABLE chat_settings (
    chat_id        INTEGER PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE ON UPDATE CASCADE,
    digest_times   TEXT    NOT NULL DEFAULT ''
                   CHECK (digest_times = '' OR digest_times GLOB '[0-2][0-9]:[0-5][0-9]*'),
    timezone       TEXT    NOT NULL DEFAULT 'UTC',
    quiet_start    TEXT    CHECK (quiet_start GLOB '[0-2][0-9]:[0-5][0-9]'),
    quiet_end      TEXT    CHECK (quiet_end GLOB '[0-2][0-9]:[0-5][0-9]'),
    language       TEXT    NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es')),
    format         TEXT    NOT NULL DEFAULT 'full' CHECK (format IN ('full', 'compact')),
    previews       INTEGER NOT NULL DEFAULT 1 CHECK (previews IN (0, 1)),
    digest_since   REAL,
    last_digest_at REAL,
    updated_at     REAL    NOT NULL,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- Delivery looks up the chats that take digests, not every chat.
CREATE INDEX chat_settings_digests ON chat_settings (chat_id) WHERE digest_times != '';
