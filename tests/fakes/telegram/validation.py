"""Checking one request the way the server would: the spec, Telegram's HTML and its limits.

Pure functions over a method name and its decoded parameters. Each breach is a problem
(recorded by the server in `violations`); the answer is the first error the server reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tests.fakes.telegram import spec as api_spec
from tests.fakes.telegram import tg_html
from tests.fakes.telegram.protocol import (
    MAX_CALLBACK_ANSWER,
    MAX_CALLBACK_DATA,
    MAX_CAPTION,
    MAX_COMMANDS,
    MAX_TEXT,
    ApiError,
)

__all__ = ["check_request", "is_html", "shown_text", "utf16_len"]

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


def is_html(mode: Any) -> bool:
    """Whether a parse_mode value asks for HTML (the server ignores its case)."""
    return isinstance(mode, str) and mode.lower() == "html"


def shown_text(parse_mode: Any, text: str) -> str:
    """Text as Telegram shows it: entities parsed, surrounding space stripped."""
    if is_html(parse_mode):
        return tg_html.visible_text(text).strip()
    return text.strip()


def check_request(method: str, params: Mapping[str, Any]) -> tuple[list[str], ApiError | None]:
    """Every breach in one request, and the error the server answers with (None: accepted)."""
    problems: list[str] = []
    errors: list[ApiError] = []
    for problem in api_spec.validate(method, params):
        problems.append(problem)
        if "missing required parameter" in problem:
            name = problem.rsplit("'", 2)[1]
            desc = "message text is empty" if name == "text" else f"{name} is empty"
            errors.append(ApiError(400, f"Bad Request: {desc}"))
        elif "must be" in problem:
            name = problem.split("'", 2)[1]
            errors.append(ApiError(400, f"Bad Request: can't parse {name}: wrong type"))
        # unknown parameters are ignored by the server: recorded, not refused
    errors += _content_errors(method, params, problems)
    return problems, errors[0] if errors else None


def _content_errors(method: str, params: Mapping[str, Any], problems: list[str]) -> list[ApiError]:
    errors: list[ApiError] = []
    mode = params.get("parse_mode")
    text = params.get("text")
    if method in {"sendMessage", "editMessageText"} and isinstance(text, str):
        errors += _check_markup(mode, text, MAX_TEXT, "text", problems)
    caption = params.get("caption")
    if isinstance(caption, str):
        errors += _check_markup(mode, caption, MAX_CAPTION, "caption", problems)
    markup = params.get("reply_markup")
    if isinstance(markup, dict):
        errors += _check_reply_markup(markup, problems)
    preview = params.get("link_preview_options")
    if isinstance(preview, dict) and not _check_object(
        preview, "LinkPreviewOptions", "link_preview_options", problems
    ):
        errors.append(ApiError(400, "Bad Request: can't parse link preview options"))
    if (
        method == "answerCallbackQuery"
        and isinstance(text, str)
        and len(text) > MAX_CALLBACK_ANSWER
    ):
        problems.append(f"callback answer text too long ({len(text)} > 200)")
        errors.append(ApiError(400, "Bad Request: MESSAGE_TOO_LONG"))
    if method == "setMyCommands":
        errors += _check_commands(params.get("commands"), problems)
    if method == "answerInlineQuery":
        errors += _check_inline_results(params.get("results"), problems)
    return errors


MAX_INLINE_RESULTS = 50
# The result and content types the fake checks field by field (the bot sends these).
_INLINE_TYPES = {"article": "InlineQueryResultArticle"}
_CONTENT_TYPES = {"message_text": "InputTextMessageContent"}


def _type_fields(name: str) -> dict[str, bool] | None:
    """A type's fields (name -> required) from the spec's JSON, None without the file."""
    try:
        raw = json.loads(api_spec.SPEC_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    fields = raw["types"][name]["fields"]
    return {f["name"]: bool(f["required"]) for f in fields}


def _check_object(value: Any, type_name: str, where: str, problems: list[str]) -> bool:
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object ({type_name})")
        return False
    fields = _type_fields(type_name)
    if fields is None:
        return True
    ok = True
    for name in value:
        if name not in fields:
            problems.append(f"{where}: unknown field {name!r} of {type_name}")
            ok = False
    for name, required in fields.items():
        if required and name not in value:
            problems.append(f"{where}: missing required field {name!r} of {type_name}")
            ok = False
    return ok


def _check_inline_results(results: Any, problems: list[str]) -> list[ApiError]:
    """answerInlineQuery's results: at most 50, unique 1-64 byte ids, each valid for its type."""
    if not isinstance(results, list):
        problems.append("answerInlineQuery: results must be an array")
        return [ApiError(400, "Bad Request: can't parse inline query results")]
    errors: list[ApiError] = []
    if len(results) > MAX_INLINE_RESULTS:
        problems.append(f"{len(results)} inline results, at most {MAX_INLINE_RESULTS}")
        errors.append(ApiError(400, "Bad Request: RESULTS_TOO_MUCH"))
    seen: set[str] = set()
    for n, result in enumerate(results):
        where = f"results[{n}]"
        kind = result.get("type") if isinstance(result, dict) else None
        type_name = _INLINE_TYPES.get(str(kind))
        if type_name is None:
            problems.append(f"{where}: result type {kind!r} not modelled")
            errors.append(ApiError(400, "Bad Request: RESULT_TYPE_INVALID"))
            continue
        if not _check_object(result, type_name, where, problems):
            errors.append(ApiError(400, f"Bad Request: can't parse {where}"))
            continue
        rid = str(result.get("id", ""))
        if not 1 <= len(rid.encode("utf-8")) <= MAX_CALLBACK_DATA or rid in seen:
            problems.append(f"{where}: id must be 1-64 bytes and unique, got {rid!r:.80}")
            errors.append(ApiError(400, "Bad Request: RESULT_ID_INVALID"))
        seen.add(rid)
        if not str(result.get("title", "")).strip():
            problems.append(f"{where}: empty title")
            errors.append(ApiError(400, "Bad Request: RESULT_TITLE_EMPTY"))
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            if _check_object(content, "InputTextMessageContent", where, problems):
                errors += _check_markup(
                    content.get("parse_mode"),
                    str(content["message_text"]),
                    MAX_TEXT,
                    "text",
                    problems,
                )
        else:
            problems.append(f"{where}: input_message_content is not a modelled content type")
            errors.append(ApiError(400, "Bad Request: MESSAGE_EMPTY"))
        markup = result.get("reply_markup")
        if isinstance(markup, dict):
            errors += _check_reply_markup(markup, problems)
    return errors


def _check_markup(
    mode: Any, text: str, limit: int, what: str, problems: list[str]
) -> list[ApiError]:
    if is_html(mode):
        html_problems = tg_html.check_html(text)
        if html_problems:
            problems.extend(f"can't parse entities in {what}: {p}" for p in html_problems)
            return [ApiError(400, f"Bad Request: can't parse entities: {html_problems[0]}")]
    shown = shown_text(mode, text)
    if what == "text":
        if not text:
            problems.append("message text is empty")
            return [ApiError(400, "Bad Request: message text is empty")]
        if not shown:
            problems.append("text must be non-empty")
            return [ApiError(400, "Bad Request: text must be non-empty")]
        if len(shown) > limit:
            problems.append(f"message is too long ({len(shown)} > {limit} characters)")
            return [ApiError(400, "Bad Request: message is too long")]
    elif utf16_len(shown) > limit:
        # Telegram counts a caption in UTF-16 code units once entities are parsed
        problems.append(f"caption is too long ({utf16_len(shown)} > {limit} UTF-16 units)")
        return [ApiError(400, "Bad Request: message caption is too long")]
    return []


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji beyond the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _check_reply_markup(markup: Mapping[str, Any], problems: list[str]) -> list[ApiError]:
    keyboard = markup.get("inline_keyboard")
    if keyboard is None:
        return []
    if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
        problems.append("inline_keyboard must be an array of button rows")
        return [ApiError(400, "Bad Request: can't parse inline keyboard button: wrong type")]
    errors: list[ApiError] = []
    for row in keyboard:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                problems.append(f"inline button without text: {button!r}")
                errors.append(
                    ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                )
                continue
            data = button.get("callback_data")
            if data is not None:
                size = len(str(data).encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_DATA:
                    problems.append(f"callback_data must be 1-64 bytes, got {size}: {data!r:.80}")
                    errors.append(ApiError(400, "Bad Request: BUTTON_DATA_INVALID"))
    return errors


def _check_commands(commands: Any, problems: list[str]) -> list[ApiError]:
    if not isinstance(commands, list):
        return []
    errors: list[ApiError] = []
    if len(commands) > MAX_COMMANDS:
        problems.append(f"{len(commands)} commands, at most {MAX_COMMANDS}")
        errors.append(ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH"))
    for cmd in commands:
        name = cmd.get("command") if isinstance(cmd, dict) else None
        desc = cmd.get("description") if isinstance(cmd, dict) else None
        if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
            problems.append(f"bad command name {name!r}: 1-32 of [a-z0-9_]")
            errors.append(ApiError(400, "Bad Request: BOT_COMMAND_INVALID"))
        if not isinstance(desc, str) or not 1 <= len(desc.strip()) <= 256:
            problems.append(f"bad description for {name!r}: 1-256 characters")
            errors.append(ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"))
    return errors
