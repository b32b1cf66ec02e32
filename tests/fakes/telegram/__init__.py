"""FakeTelegram: a Bot API server on 127.0.0.1 that answers like Telegram does.

It serves `POST|GET /bot<token>/<method>` with form, multipart or JSON bodies (what
python-telegram-bot sends), keeps a small simulated world (chats, members, the
messages the bot sent), hands out updates through `getUpdates` or posts them to a
webhook, and can be told to misbehave the way the real service does: blocked users,
kicked bots, migrated groups, flood control (scripted or at random), 5xx storms, a
second poller.

Every request is checked against the Bot API 10.0 spec and Telegram's HTML and length
rules; a breach is recorded in `violations` and answered with the server's error, so a
test that ends with `fake.violations == []` knows the bot spoke valid Bot API.

One module per part: server (HTTP, lifecycle, dispatch), validation (with spec and
tg_html), faults (scripted failures and the rate limits), world (users, chats, messages,
updates) and methods (the Bot API methods the fake models).
"""

from tests.fakes.telegram.protocol import (
    BOT_ID,
    CONFLICT_POLL,
    CONFLICT_WEBHOOK,
    DEFAULT_TOKEN,
    NOT_MODIFIED,
    ApiError,
    Call,
)
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.spec import UploadedFile
from tests.fakes.telegram.world import FakeFile, StoredMessage

__all__ = [
    "BOT_ID",
    "CONFLICT_POLL",
    "CONFLICT_WEBHOOK",
    "DEFAULT_TOKEN",
    "NOT_MODIFIED",
    "ApiError",
    "Call",
    "FakeFile",
    "FakeTelegram",
    "StoredMessage",
    "UploadedFile",
]
