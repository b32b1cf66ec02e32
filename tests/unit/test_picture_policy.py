"""The send policy on a refused picture: send the post again at once without it; every other
judgement of a 400 stays as it was."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest

from bot.delivery.policy import Action, decide


@pytest.mark.parametrize(
    "description",
    [
        "Bad Request: wrong file identifier/HTTP URL specified",
        "Bad Request: failed to get HTTP URL content",
        "Bad Request: wrong type of the web page content",
        "Bad Request: IMAGE_PROCESS_FAILED",
        "Bad Request: PHOTO_INVALID_DIMENSIONS",
        "Bad Request: PHOTO_EXT_INVALID",
        "Bad Request: wrong remote file identifier specified: Wrong character in the string",
        "Bad Request: FILE_REFERENCE_EXPIRED",
    ],
)
def test_a_refused_picture_means_resend_without_it(description: str) -> None:
    assert decide(BadRequest(description)).action is Action.RESEND_WITHOUT_PICTURE


@pytest.mark.parametrize(
    ("description", "action"),
    [
        ("Bad Request: can't parse entities: Unsupported start tag", Action.RESEND_PLAIN),
        ("Bad Request: message caption is too long", Action.DROP),
        ("Bad Request: message is too long", Action.DROP),
        ("Bad Request: chat not found", Action.DEACTIVATE),
        ("Bad Request: message thread not found", Action.RESEND_WITHOUT_THREAD),
    ],
)
def test_other_refusals_keep_their_meaning(description: str, action: Action) -> None:
    assert decide(BadRequest(description)).action is action
