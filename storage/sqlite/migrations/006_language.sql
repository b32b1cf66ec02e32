-- Topics and search that understand language. A headline is indexed in its feed's language:
-- `stems` holds a marker naming its stemmer and then its stemmed words, `words` its folded
-- words (see storage/fts.py), so `election` finds "Elections" and `"bolivian"` only that
-- word. SQLite computes both through hb_stems() and hb_words(), which storage/fts.py
-- registers on the connection; the Python step of this migration fills the new index.

-- The language each feed's headlines are indexed and routed in: the feed's declared one
-- (RSS <language>, Atom xml:lang), else DEFAULT_LANGUAGE, as the poller last saw it.
CREATE TABLE feed_languages (
    feed_id  INTEGER PRIMARY KEY REFERENCES feeds(id) ON DELETE CASCADE,
    language TEXT    NOT NULL
);

-- A headline keeps the language it was indexed in, so that updating or deleting it later
-- removes exactly the terms it was indexed with, whatever its feed declares by then.
ALTER TABLE headlines ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

-- What the reader typed (`Bogotá`, `AT&T`), shown beside the key the topic is matched by.
ALTER TABLE subscriptions ADD COLUMN display TEXT NOT NULL DEFAULT '';

DROP TRIGGER headlines_ai;
DROP TRIGGER headlines_ad;
DROP TRIGGER headlines_au;
DROP TABLE headlines_fts;

CREATE VIEW headlines_indexed AS
SELECT id,
       hb_stems(title, summary, categories, language) AS stems,
       hb_words(title, summary, categories, language) AS words
FROM headlines;

CREATE VIRTUAL TABLE headlines_fts USING fts5 (
    stems, words,
    content = 'headlines_indexed', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER headlines_ai AFTER INSERT ON headlines BEGIN
    UPDATE headlines SET language = (
        SELECT language FROM feed_languages WHERE feed_id = new.feed_id
    ) WHERE id = new.id AND EXISTS (SELECT 1 FROM feed_languages WHERE feed_id = new.feed_id);
    INSERT INTO headlines_fts (rowid, stems, words)
    SELECT id, stems, words FROM headlines_indexed WHERE id = new.id;
END;
CREATE TRIGGER headlines_ad AFTER DELETE ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, stems, words)
    VALUES ('delete', old.id,
            hb_stems(old.title, old.summary, old.categories, old.language),
            hb_words(old.title, old.summary, old.categories, old.language));
END;
CREATE TRIGGER headlines_au AFTER UPDATE OF title, summary, categories ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, stems, words)
    VALUES ('delete', old.id,
            hb_stems(old.title, old.summary, old.categories, old.language),
            hb_words(old.title, old.summary, old.categories, old.language));
    INSERT INTO headlines_fts (rowid, stems, words)
    SELECT id, stems, words FROM headlines_indexed WHERE id = new.id;
END;
