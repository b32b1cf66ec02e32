-- A busy poll queues millions of pushes, and every index over pending rows is written by
-- each of them. A wake-up time only matters for rows put off by a 429 or a retry, so its
-- index now holds those alone.
DROP INDEX outbox_pending_wakeup;
CREATE INDEX outbox_deferred ON outbox (not_before) WHERE status = 'pending' AND not_before > 0;

-- Finished rows (sent, failed, dropped, cancelled) are kept for a few days and then pruned,
-- so that the table holds the backlog and recent history rather than every send ever made.
ALTER TABLE outbox ADD COLUMN closed_at REAL;
UPDATE outbox SET closed_at = coalesce(sent_at, created_at)
    WHERE status NOT IN ('pending', 'sending');
DROP INDEX outbox_sent_at;
CREATE INDEX outbox_closed ON outbox (closed_at) WHERE closed_at IS NOT NULL;
