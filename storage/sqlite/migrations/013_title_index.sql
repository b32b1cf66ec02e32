-- Titles rank first: the index gains the title alone, in two more columns, so that a search
-- can ask which of its matches have a searched word in their title and rank those first
-- (storage/sqlite/headlines.py). `stems` and `words` keep every field, the title once (it
-- was indexed twice for bm25's sake, which ranking no longer uses); `title_stems` and
-- `title_words` hold the title's stems and folded words (storage/sqlite/fts.py). The Python
-- step after this script fills the new index.
DROP TRIGGER headlines_ai;
DROP TRIGGER headlines_ad;
DROP TRIGGER headlines_au;
DROP VIEW headlines_indexed;
DROP TABLE headlines_fts;

CREATE VIEW headlines_indexed AS
SELECT id,
       hb_stems(title, summary, categories, language) AS stems,
       hb_words(title, summary, categories, language) AS words,
       hb_title_stems(title, summary, categories, language) AS title_stems,
       hb_title_words(title, summary, categories, language) AS title_words
FROM headlines;

CREATE VIRTUAL TABLE headlines_fts USING fts5 (
    stems, words, title_stems, title_words,
    content = 'headlines_indexed', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER headlines_ai AFTER INSERT ON headlines BEGIN
    UPDATE headlines SET language = (
        SELECT language FROM feed_languages WHERE feed_id = new.feed_id
    ) WHERE id = new.id AND EXISTS (SELECT 1 FROM feed_languages WHERE feed_id = new.feed_id);
    INSERT INTO headlines_fts (rowid, stems, words, title_stems, title_words)
    SELECT id, stems, words, title_stems, title_words FROM headlines_indexed WHERE id = new.id;
END;
CREATE TRIGGER headlines_ad AFTER DELETE ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, stems, words, title_stems, title_words)
    VALUES ('delete', old.id,
            hb_stems(old.title, old.summary, old.categories, old.language),
            hb_words(old.title, old.summary, old.categories, old.language),
            hb_title_stems(old.title, old.summary, old.categories, old.language),
            hb_title_words(old.title, old.summary, old.categories, old.language));
END;
CREATE TRIGGER headlines_au AFTER UPDATE OF title, summary, categories ON headlines BEGIN
    INSERT INTO headlines_fts (headlines_fts, rowid, stems, words, title_stems, title_words)
    VALUES ('delete', old.id,
            hb_stems(old.title, old.summary, old.categories, old.language),
            hb_words(old.title, old.summary, old.categories, old.language),
            hb_title_stems(old.title, old.summary, old.categories, old.language),
            hb_title_words(old.title, old.summary, old.categories, old.language));
    INSERT INTO headlines_fts (rowid, stems, words, title_stems, title_words)
    SELECT id, stems, words, title_stems, title_words FROM headlines_indexed WHERE id = new.id;
END;
