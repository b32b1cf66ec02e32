-- Feeds, headlines and the full-text index over them.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT    NOT NULL UNIQUE,
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_attempt_at      REAL,
    last_success_at      REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        REAL,
    next_attempt_at      REAL    NOT NULL DEFAULT 0,
    last_error           TEXT,
    baseline_done        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE headlines (
    id            INTEGER PRIMARY KEY,
    feed_id       INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    link          TEXT,
    summary       TEXT    NOT NULL DEFAULT '',
    categories    TEXT    NOT NULL DEFAULT '',   -- one category a line
    published_at  REAL    NOT NULL,
    first_seen_at REAL    NOT NULL,
    updated_at    REAL    NOT NULL,
    baseline      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (feed_id, key)
);
CREATE INDEX headlines_published ON headlines (published_at DESC, id DESC);
CREATE INDEX headlines_first_seen ON headlines (first_seen_at);

CREATE VIRTUAL TABLE headlines_fts USING fts5 (
    title, summary, categories,
    content = 'headlines', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER headlines_ai AFTER INSERT ON headlines BEGIN
    INSERT INTO headlines_fts (rowid, title, summary, categories)
    VALUES (new.id, new.title, new.summary, new.categories);
END;
CREATE TRIGGER headlines_ad AFTER DELETE ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, title, summary, categories)
    VALUES ('delete', old.id, old.title, old.summary, old.categories);
END;
CREATE TRIGGER headlines_au AFTER UPDATE OF title, summary, categories ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, title, summary, categories)
    VALUES ('delete', old.id, old.title, old.summary, old.categories);
    INSERT INTO headlines_fts (rowid, title, summary, categories)
    VALUES (new.id, new.title, new.summary, new.categories);
END;
