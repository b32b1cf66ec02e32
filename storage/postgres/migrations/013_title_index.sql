-- SQLite's 013: titles rank first. SQLite's index gains the title alone in two more columns;
-- here the vector has held the title apart from the start: its positions carry weight A, and
-- a term in the title is the term's tsquery restricted to them ('s:elect':A). Nothing to
-- change but the column's description.
COMMENT ON COLUMN headlines.search IS
    'Explicit lexemes written by storage/postgres/fts.py: s:stem, w:word, m:stemmer, id windows; title positions weight A';
