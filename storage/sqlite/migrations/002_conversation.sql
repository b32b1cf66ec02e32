-- Chats, their topics, announcements and the outbox of pending sends.
CREATE TABLE chats (
    id              INTEGER PRIMARY KEY,            -- Telegram chat id
    kind            TEXT    NOT NULL CHECK (kind IN ('private', 'group', 'supergroup', 'channel')),
    title           TEXT,
    username        TEXT,
    is_forum        INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT,
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL
);
CREATE INDEX chats_active_kind ON chats (active, kind);

CREATE TABLE subscriptions (
    chat_id    INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE ON UPDATE CASCADE,
    topic      TEXT    NOT NULL,   -- normalised; a leading '-' mutes
    thread_id  INTEGER,            -- forum thread the pushes go to
    created_at REAL    NOT NULL,
    PRIMARY KEY (chat_id, topic)
);
CREATE INDEX subscriptions_topic ON subscriptions (topic);

CREATE TABLE broadcasts (
    id                INTEGER PRIMARY KEY,
    admin_id          INTEGER NOT NULL,
    audience          TEXT    NOT NULL CHECK (audience IN ('all', 'users', 'groups', 'channels')),
    text              TEXT,              -- HTML announcement, or NULL when copied
    from_chat_id      INTEGER,           -- copyMessage source
    from_message_id   INTEGER,
    status            TEXT    NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'queued', 'cancelled', 'done')),
    report_chat_id    INTEGER,
    report_message_id INTEGER,
    total             INTEGER NOT NULL DEFAULT 0,
    created_at        REAL    NOT NULL,
    confirmed_at      REAL,
    finished_at       REAL
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE ON UPDATE CASCADE,
    headline_id  INTEGER REFERENCES headlines(id) ON DELETE CASCADE,
    broadcast_id INTEGER REFERENCES broadcasts(id) ON DELETE CASCADE,
    batch        INTEGER NOT NULL DEFAULT 0,      -- the poll that queued it
    thread_id    INTEGER,
    topics       TEXT    NOT NULL DEFAULT '',     -- matched topics, one a line
    priority     INTEGER NOT NULL,                -- 1 push, 2 broadcast
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dropped', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   REAL    NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   REAL    NOT NULL,
    sent_at      REAL,
    CHECK ((headline_id IS NULL) <> (broadcast_id IS NULL))
);
CREATE UNIQUE INDEX outbox_chat_headline ON outbox (chat_id, headline_id)
    WHERE headline_id IS NOT NULL;
CREATE UNIQUE INDEX outbox_chat_broadcast ON outbox (chat_id, broadcast_id)
    WHERE broadcast_id IS NOT NULL;
-- Indexes over unsent rows only, so they stay as small as the backlog. Every pending
-- index slows the poller's fan-out inserts, hence no more of them than the delivery
-- loop needs: next_unit reads one chat's rows, ready_chats walks rows most urgent first
-- (priority, then id), next_wakeup takes the smallest not_before, and reset_inflight
-- finds the rows a crash left in flight.
CREATE INDEX outbox_chat_pending ON outbox (chat_id, priority, batch, not_before)
    WHERE status = 'pending';
CREATE INDEX outbox_pending_order ON outbox (priority) WHERE status = 'pending';
CREATE INDEX outbox_pending_wakeup ON outbox (not_before) WHERE status = 'pending';
CREATE INDEX outbox_sending ON outbox (chat_id) WHERE status = 'sending';
CREATE INDEX outbox_broadcast_status ON outbox (broadcast_id, status)
    WHERE broadcast_id IS NOT NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Hourly counters for /stats (messages sent, 429s received, blocked chats ...).
CREATE TABLE counters (
    hour  INTEGER NOT NULL,   -- unix time // 3600
    name  TEXT    NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, name)
);

-- Feed-health alerts already sent to admins, so each failure is announced once.
ALTER TABLE feeds ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
