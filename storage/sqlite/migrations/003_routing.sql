-- Routing a poll's new headlines to chats runs in its own short transactions after the
-- headlines are stored, so that replies and deliveries are not held up by a poll that
-- queues millions of pushes. `routed` records which headlines are done; a crash between
-- the two leaves `routed = 0`, and the next poll routes them (the outbox's unique
-- (chat, headline) rule makes a repeat harmless).
ALTER TABLE headlines ADD COLUMN routed INTEGER NOT NULL DEFAULT 1;
CREATE INDEX headlines_unrouted ON headlines (id) WHERE routed = 0;
