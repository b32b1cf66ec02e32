"""N_: marks a text for the message catalogs without translating it (pure, imports nothing).

Apart from bot.text.i18n so that modules below it (the schedule's errors) can mark their
texts without importing the catalogs.
"""


def N_(message: str) -> str:  # gettext's own name for a deferred mark
    """Mark a text for the catalogs without translating it yet."""
    return message
