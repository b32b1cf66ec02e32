-- Adding headlines to a push row costs the same however full the row is. Appending to the
-- row's own `items` rewrote the whole growing row at every routing pass (and, once it held
-- KEEP_PER_ROW headlines, read and rewrote it in Python), so a poll cost more the longer
-- delivery lagged. A row's `items` now holds the headlines it was created with; each pass
-- that adds to it writes one chunk of its own (storage/sqlite/outbox.py).
--   outbox.items_total: the headlines the row has taken in, `items` and chunks together (the
--                       ordinal after its newest one); the first is ordinal 0.
--   outbox.items_from:  the ordinal of its oldest kept headline: the newest KEEP_PER_ROW are
--                       kept, the older ones only counted in `more`.
--   outbox_chunks:      a pass's headlines for a row, JSON as `items` holds them, ordinals
--                       end_at - n .. end_at - 1 (n: the array's length). A chunk wholly
--                       older than the row's items_from is deleted.
ALTER TABLE outbox ADD COLUMN items_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN items_from INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET items_total = json_array_length(items) WHERE items IS NOT NULL;

CREATE TABLE outbox_chunks (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    end_at    INTEGER NOT NULL,
    items     TEXT    NOT NULL
);
CREATE INDEX outbox_chunks_row ON outbox_chunks (outbox_id, end_at);

-- One row per (chat, headline) push a row keeps, for inspection and checks.
DROP VIEW outbox_pushes;
CREATE VIEW outbox_pushes AS
SELECT o.id AS outbox_id, o.chat_id, o.thread_id, o.status,
       json_extract(j.value, '$[0]') AS headline_id,
       json_extract(j.value, '$[1]') AS topics
FROM outbox AS o, json_each(o.items) AS j
WHERE o.items IS NOT NULL AND j.key >= o.items_from
UNION ALL
SELECT o.id, o.chat_id, o.thread_id, o.status,
       json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')
FROM outbox AS o JOIN outbox_chunks AS c ON c.outbox_id = o.id, json_each(c.items) AS j
WHERE c.end_at - json_array_length(c.items) + j.key >= o.items_from;
