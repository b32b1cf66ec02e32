-- One outbox row per (chat, headline) made a poll that matches every chat write millions of
-- rows, and made each push message claim and close dozens of them. A push row is now the
-- message a chat (and forum thread) is owed: routing adds new headlines to the chat's
-- pending row, or starts one, so rows follow messages rather than matches.
--   items: JSON [[headline_id, "topic\ntopic"], ...] in headline order, at most the 10 a
--          message shows; NULL for broadcasts.
--   more:  headlines beyond those, counted for the message's "+N more".
--   headline_id: the row's first headline (kept for the unique (chat_id, headline_id) rule).
ALTER TABLE outbox ADD COLUMN items TEXT;
ALTER TABLE outbox ADD COLUMN more INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET items = json_array(json_array(headline_id, topics))
    WHERE headline_id IS NOT NULL;

-- The highest headline id queued to a chat. Routing takes headlines in id order, so a
-- headline at or below it has been queued already: a pass repeated after a crash skips it.
-- This is what keeps a push from being queued twice now that rows hold several headlines.
ALTER TABLE chats ADD COLUMN pushed_upto INTEGER NOT NULL DEFAULT 0;
UPDATE chats SET pushed_upto = coalesce(
    (SELECT max(headline_id) FROM outbox
     WHERE outbox.chat_id = chats.id AND headline_id IS NOT NULL), 0);

-- One row per (chat, headline) push listed in a row, for inspection and checks.
CREATE VIEW outbox_pushes AS
SELECT o.id AS outbox_id, o.chat_id, o.thread_id, o.status,
       json_extract(j.value, '$[0]') AS headline_id,
       json_extract(j.value, '$[1]') AS topics
FROM outbox AS o, json_each(o.items) AS j
WHERE o.items IS NOT NULL;
