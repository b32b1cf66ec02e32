-- Each chat's settings reach delivery: a push row may be held (a digest time, the end of
-- quiet hours) and then keeps collecting headlines until it goes out as one message.
--
-- A row's `items` now keeps up to the newest few hundred headlines (storage/outbox.py
-- KEEP_PER_ROW) with their topics, not only the ten a message shows: the message shows a
-- page and a More button pages through the rest. `more` counts the older ones not kept.
--
-- At a digest time shared by many chats, many rows share one not_before: delivery walks
-- the due rows in (not_before, id) order per priority, and skips the held ones without
-- reading them.
DROP INDEX outbox_pending_order;
CREATE INDEX outbox_pending_due ON outbox (priority, not_before) WHERE status = 'pending';

-- The headlines behind a sent message's More button, keyed by a short id in its callback
-- data (`more:<id>:<page>`). A list goes with its outbox row when finished rows are pruned.
--   items:   the row's JSON [[headline_id, "topic\ntopic"], ...], in headline order
--   dropped: older headlines the row no longer kept (said on the last page)
--   digest:  1 when the message was a digest (grouped by topic)
CREATE TABLE more_lists (
    id         INTEGER PRIMARY KEY,
    chat_id    INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE ON UPDATE CASCADE,
    outbox_id  INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    items      TEXT    NOT NULL,
    dropped    INTEGER NOT NULL DEFAULT 0,
    digest     INTEGER NOT NULL DEFAULT 0 CHECK (digest IN (0, 1)),
    created_at REAL    NOT NULL
);
CREATE INDEX more_lists_outbox ON more_lists (outbox_id);
