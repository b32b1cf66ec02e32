-- Each run of the bot: when it started and, if it stopped cleanly (everything it would send
-- sent), when it stopped. A start reads the previous run's stop: a run that stopped a moment
-- ago may have sent a full second's worth of messages, and Telegram counts those with the
-- new run's (bot/delivery/limiter.py); after a crash (no stop recorded) the new run waits
-- one window from its own start. Only the newest few runs are kept.
CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    stopped_at REAL
);
