-- A feed's failure is kept as a value beside its English text, so /feeds, /stats and the
-- feed-health alerts say it in the reader's language after a restart without reading the
-- sentence back (bot/feeds/failures.py):
--   last_error_reason: the reason's code (bot.feeds.failures.Reason), NULL with no failure
--   last_error_detail: what the reason carries: a status, seconds, a size, a message
-- last_error stays the English text: the logs and /healthz show it as before.
-- Rows failing now get their reason from the text as the fetcher, the parser and the poller
-- wrote it (the first pattern that matches wins); a text none matches keeps a NULL reason
-- and is shown as it is, as it was before. `head` and `tail`: the characters around the
-- detail (0: a text that carries none).
ALTER TABLE feeds ADD COLUMN last_error_reason TEXT;
ALTER TABLE feeds ADD COLUMN last_error_detail TEXT;

WITH known (rank, pattern, reason, head, tail) AS (
    VALUES
        (1, 'connection refused', 'connection_refused', 0, 0),
        (2, 'host not found', 'host_not_found', 0, 0),
        (3, 'redirect loop', 'redirect_loop', 0, 0),
        (4, 'too many redirects', 'too_many_redirects', 0, 0),
        (5, 'bad content encoding', 'bad_encoding', 0, 0),
        (6, 'file not found', 'file_not_found', 0, 0),
        (7, 'permission denied', 'permission_denied', 0, 0),
        (8, 'is a directory', 'is_a_directory', 0, 0),
        (9, 'fetch failed', 'fetch_failed', 0, 0),
        (10, 'not a feed: XML entities expand beyond the safe limit', 'entities', 0, 0),
        (11, 'not a feed: empty document', 'empty_document', 0, 0),
        (12, 'not a feed: no feed found', 'no_feed', 0, 0),
        (13, 'not a feed: unrecognised document', 'unrecognised', 0, 0),
        (20, 'HTTP [0-9][0-9][0-9]', 'http_status', 5, 0),
        (21, 'timed out after [0-9]* s', 'timeout', 16, 2),
        (22, 'connect timed out after [0-9]* s', 'connect_timeout', 24, 2),
        (23, 'body larger than [0-9]*', 'too_large', 17, 0),
        (24, 'unsupported URL scheme ''*''', 'unsupported_scheme', 24, 1),
        (25, 'cannot read file: *', 'file_unreadable', 18, 0),
        (26, 'invalid URL: *', 'invalid_url', 13, 0),
        (27, 'protocol error: *', 'protocol_error', 16, 0),
        (28, 'connection lost: *', 'connection_lost', 17, 0),
        (29, 'TLS error: *', 'tls', 11, 0),
        (30, 'connection failed: *', 'connection_failed', 19, 0),
        (31, 'internal error: *', 'internal', 16, 0),
        (32, 'not a feed: *', 'not_a_feed', 12, 0)
)
UPDATE feeds SET (last_error_reason, last_error_detail) = (
    SELECT reason,
        CASE WHEN head = 0 THEN '' ELSE substr(last_error, head + 1, length(last_error) - head - tail) END
    FROM known WHERE feeds.last_error GLOB known.pattern ORDER BY rank LIMIT 1
)
WHERE last_error IS NOT NULL;
