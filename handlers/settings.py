"""/settings and one command per setting: /digest, /timezone, /quiet, /language, /format,
/previews, /pictures. Each shows its choices as buttons when given nothing; buttons edit in
place.

In groups and channels only the chat's admins may change them, as with topics.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.chats.preferences import Setting, quiet_of
from bot.context import BotApp, BotContext
from bot.formatting import escape
from bot.text.i18n import LANGUAGE_NAMES, N_, Translator, language_for_user, translator
from bot.text.schedule import (
    COMMON_ZONES,
    UTC_NAME,
    SettingError,
    city_of,
    format_time,
    format_times,
    local_now,
    region_of,
    utc_offset,
)
from handlers.common import (
    button_label,
    command_args,
    edit_in_place,
    register_chat,
    reply,
    split_command,
)
from handlers.unknown import is_for_another_bot
from storage.models import ChatPreferences, MessageFormat

PREFIX = "cfg"
MAX_CALLBACK_BYTES = 64

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]

# (command, description) for the command menu, in the order /help lists them
DESCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("settings", N_("this chat's settings, with buttons to change them")),
    ("digest", N_("headlines together at set times: /digest 08:00 or off")),
    ("timezone", N_("the time zone of digests and quiet hours")),
    ("quiet", N_("hold pushes at night: /quiet 22:00-07:00 or off")),
    ("language", N_("reply in English or Spanish: /language es")),
    ("format", N_("full or compact headlines, or one post each")),
    ("previews", N_("link previews on or off")),
    ("pictures", N_("posts with their pictures, on or off")),
)

USAGE = {
    Setting.DIGEST: N_(
        "Usage: <code>/digest 08:00</code>, <code>/digest 08:00,18:00</code> "
        "(up to four times a day) or <code>/digest off</code>."
    ),
    Setting.TIMEZONE: N_(
        "Usage: <code>/timezone America/La_Paz</code>, <code>/timezone UTC</code> "
        "or an offset such as <code>/timezone -4</code>."
    ),
    Setting.QUIET: N_("Usage: <code>/quiet 22:00-07:00</code> or <code>/quiet off</code>."),
    Setting.LANGUAGE: N_("Usage: <code>/language en</code> or <code>/language es</code>."),
    Setting.FORMAT: N_(
        "Usage: <code>/format full</code>, <code>/format compact</code> or "
        "<code>/format post</code>."
    ),
    Setting.PREVIEWS: N_("Usage: <code>/previews on</code> or <code>/previews off</code>."),
    Setting.PICTURES: N_("Usage: <code>/pictures on</code> or <code>/pictures off</code>."),
}

REGIONS = {
    "America": N_("America"),
    "Europe": N_("Europe"),
    "Africa": N_("Africa"),
    "Asia": N_("Asia"),
    "Pacific": N_("Pacific"),
}

DIGEST_CHOICES = ("off", "07:00", "08:00", "12:00", "18:00", "20:00", "08:00,18:00", "07:00,19:00")
QUIET_CHOICES = ("22:00-07:00", "23:00-07:00", "21:00-06:00", "00:00-08:00", "off")


def callback(*parts: str) -> str:
    """Callback data 'cfg:...' for a button; never more than Telegram's 64 bytes."""
    data = ":".join((PREFIX, *parts))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def _set(setting: Setting, value: str) -> str:
    return callback(f"{setting}={value}")


# --- what a setting looks like -----------------------------------------------------------


def _on_off(t: Translator, value: bool) -> str:
    return t._("on") if value else t._("off")


def _format_name(t: Translator, fmt: MessageFormat) -> str:
    names = {
        MessageFormat.FULL: N_("full"),
        MessageFormat.COMPACT: N_("compact"),
        MessageFormat.POST: N_("one post per headline"),
    }
    return t._(names[MessageFormat(fmt)])


def _zone_label(zone: str, now: float) -> str:
    offset = utc_offset(zone, now)
    return zone if zone == UTC_NAME or zone.startswith("UTC") else f"{zone} ({offset})"


def value_of(t: Translator, settings: ChatPreferences, setting: Setting, now: float) -> str:
    """A setting's current value as the chat reads it (plain text, not HTML)."""
    match setting:
        case Setting.DIGEST:
            return format_times(settings.digest_times) if settings.digest_times else t._("off")
        case Setting.TIMEZONE:
            return _zone_label(settings.timezone, now)
        case Setting.QUIET:
            quiet = quiet_of(settings)
            if quiet is None:
                return t._("off")
            window = f"{format_time(quiet.start)}–{format_time(quiet.end)}"
            if settings.digest_times:
                return t._("{window} (not used while digests are on)").format(window=window)
            return window
        case Setting.LANGUAGE:
            return LANGUAGE_NAMES.get(settings.language, settings.language)
        case Setting.FORMAT:
            return _format_name(t, settings.format)
        case Setting.PREVIEWS:
            return _on_off(t, settings.previews)
        case Setting.PICTURES:
            return _on_off(t, settings.pictures)
    raise AssertionError(setting)  # not reached


LABELS = {
    Setting.DIGEST: N_("🕗 Digest: {value}"),
    Setting.TIMEZONE: N_("🌐 Time zone: {value}"),
    Setting.QUIET: N_("🌙 Quiet hours: {value}"),
    Setting.LANGUAGE: N_("🗣 Language: {value}"),
    Setting.FORMAT: N_("📰 Format: {value}"),
    Setting.PREVIEWS: N_("🔗 Link previews: {value}"),
    Setting.PICTURES: N_("🖼 Pictures: {value}"),
}


def _label(t: Translator, settings: ChatPreferences, setting: Setting, now: float) -> str:
    return t._(LABELS[setting]).format(value=value_of(t, settings, setting, now))


def settings_view(
    t: Translator, settings: ChatPreferences, now: float
) -> tuple[str, InlineKeyboardMarkup]:
    """The /settings message: every setting, each a button that opens its choices."""
    lines = ["⚙️ <b>" + escape(t._("Settings")) + "</b>"]
    lines += [escape(_label(t, settings, s, now)) for s in Setting]
    if settings.digest_times:
        if settings.last_digest_at is None:
            last = t._("📬 Last digest: none yet")
        else:
            when = t.format_datetime(settings.last_digest_at, settings.timezone)
            last = t._("📬 Last digest: {when}").format(when=when)
        lines.append(escape(last))
    lines.append("")
    lines.append(
        escape(t._("Tap a setting to change it, or type its command, such as /digest 08:00."))
    )
    buttons = [
        [InlineKeyboardButton(button_label(_label(t, settings, s, now)), callback_data=callback(s))]
        for s in Setting
    ]
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


def _choice(text: str, chosen: bool, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(("✓ " if chosen else "") + text, callback_data=data)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _back(t: Translator) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(t._("« All settings"), callback_data=callback())]


def _digest_choice_label(t: Translator, value: str) -> str:
    return t._("Off") if value == "off" else value.replace(",", " + ")


def _quiet_choice_label(t: Translator, value: str) -> str:
    return t._("Off") if value == "off" else value.replace("-", "–")


def choices_view(
    t: Translator,
    settings: ChatPreferences,
    setting: Setting,
    now: float,
    *,
    region: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """One setting's explanation, current value and choices as buttons."""
    current = value_of(t, settings, setting, now)
    rows: list[list[InlineKeyboardButton]] = []
    match setting:
        case Setting.DIGEST:
            title = t._("Digest")
            about = t._(
                "Off: each headline is sent as soon as it is found. At set times: matching "
                "headlines are held and sent together, in one message, at those times "
                "({zone})."
            ).format(zone=settings.timezone)
            hint = t._("Choose, or type /digest 07:30,19:30 (up to four times a day).")
            chosen = ",".join(format_time(x) for x in settings.digest_times) or "off"
            rows = _rows(
                [
                    _choice(_digest_choice_label(t, v), v == chosen, _set(setting, v))
                    for v in DIGEST_CHOICES
                ],
                3,
            )
        case Setting.TIMEZONE:
            region = region if region in COMMON_ZONES else region_of(settings.timezone)
            assert region is not None
            title = t._("Time zone")
            local = local_now(settings.timezone, now)
            about = t._("It is {time} there now. Digest times and quiet hours are in it.").format(
                time=format_time(local.time())
            )
            hint = t._(
                "Choose a zone of {region}, another region, or type "
                "/timezone America/La_Paz or an offset such as /timezone -4."
            ).format(region=t._(REGIONS[region]))
            zones = [
                _choice(
                    f"{city_of(z)} ({utc_offset(z, now)})",
                    z == settings.timezone,
                    _set(setting, z),
                )
                for z in COMMON_ZONES[region]
            ]
            rows = _rows(zones, 2)
            rows.append(
                [
                    InlineKeyboardButton(t._(name), callback_data=callback("tz", key))
                    for key, name in REGIONS.items()
                    if key != region
                ]
            )
            rows.append([_choice(UTC_NAME, settings.timezone == UTC_NAME, _set(setting, "UTC"))])
        case Setting.QUIET:
            title = t._("Quiet hours")
            about = t._(
                "Pushes found during quiet hours are held and sent as one message when "
                "they end. Digests keep their own times."
            )
            hint = t._("Choose, or type /quiet 22:30-06:30.")
            quiet = quiet_of(settings)
            chosen = "off" if quiet is None else str(quiet)
            rows = _rows(
                [
                    _choice(_quiet_choice_label(t, v), v == chosen, _set(setting, v))
                    for v in QUIET_CHOICES
                ],
                2,
            )
        case Setting.LANGUAGE:
            title = t._("Language")
            about = t._("Replies, buttons and dates are written in this language.")
            hint = t._("Choose, or type /language en or /language es.")
            rows = [
                [
                    _choice(name, code == settings.language, _set(setting, code))
                    for code, name in LANGUAGE_NAMES.items()
                ]
            ]
        case Setting.FORMAT:
            title = t._("Format")
            about = t._(
                "Full: each headline's title as a link, its summary, date and matched "
                "topics. Compact: linked titles only, many more in each message. One post "
                "per headline: each is its own message, with its picture, shaped by "
                "/template."
            )
            hint = t._("Choose, or type /format full, /format compact or /format post.")
            rows = _rows(
                [
                    _choice(_format_name(t, f), f == settings.format, _set(setting, f))
                    for f in MessageFormat
                ],
                2,
            )
        case Setting.PREVIEWS:
            title = t._("Link previews")
            about = t._("Telegram's preview of the link, for messages holding a single headline.")
            hint = t._("Choose, or type /previews on or /previews off.")
            rows = [
                [
                    _choice(
                        _on_off(t, v), v == settings.previews, _set(setting, "on" if v else "off")
                    )
                    for v in (True, False)
                ]
            ]
        case Setting.PICTURES:
            title = t._("Pictures")
            about = t._(
                "In the post format, a headline with a picture is posted with it, the post "
                "as its caption. Off: every post is text, with its link preview."
            )
            hint = t._("Choose, or type /pictures on or /pictures off.")
            rows = [
                [
                    _choice(
                        _on_off(t, v), v == settings.pictures, _set(setting, "on" if v else "off")
                    )
                    for v in (True, False)
                ]
            ]
    rows.append(_back(t))
    now_line = t._("Now: {value}").format(value=current)
    text = "\n".join([f"<b>{escape(title)}</b>", escape(now_line), escape(about), "", escape(hint)])
    return text, InlineKeyboardMarkup(rows)


def confirmation(t: Translator, settings: ChatPreferences, setting: Setting, now: float) -> str:
    """What a command says once it changed a setting (in the chat's language, maybe new)."""
    zone = settings.timezone
    match setting:
        case Setting.DIGEST:
            n = len(settings.digest_times)
            if not n:
                return t._("✅ Digest off: headlines are sent as soon as they are found.")
            return t.ngettext(
                "✅ Digest at {times} ({zone}): matching headlines are held and sent "
                "together then.",
                "✅ Digests at {times} ({zone}): matching headlines are held and sent "
                "together then.",
                n,
            ).format(times=format_times(settings.digest_times), zone=zone)
        case Setting.TIMEZONE:
            local = local_now(zone, now)
            return t._("✅ Time zone: {zone}. It is {time} there now.").format(
                zone=_zone_label(zone, now), time=format_time(local.time())
            )
        case Setting.QUIET:
            quiet = quiet_of(settings)
            if quiet is None:
                return t._("✅ Quiet hours off.")
            text = t._(
                "✅ Quiet hours {start}–{end} ({zone}): pushes found then are sent as one "
                "message when they end."
            ).format(start=format_time(quiet.start), end=format_time(quiet.end), zone=zone)
            if settings.digest_times:
                text += "\n" + t._("Digests keep their own times; /digest off uses these hours.")
            return text
        case Setting.LANGUAGE:
            return t._("✅ Language: {name}.").format(name=LANGUAGE_NAMES[settings.language])
        case Setting.FORMAT:
            return t._("✅ Format: {value}.").format(value=_format_name(t, settings.format))
        case Setting.PREVIEWS:
            return t._("✅ Link previews: {value}.").format(value=_on_off(t, settings.previews))
        case Setting.PICTURES:
            return t._("✅ Pictures: {value}.").format(value=_on_off(t, settings.pictures))
    raise AssertionError(setting)  # not reached


def error_text(t: Translator, error: SettingError) -> str:
    """A SettingError in the chat's language."""
    params = {k: str(v) for k, v in error.params.items()}
    return "⚠️ " + t._(error.message).format(**params)


# --- handlers ----------------------------------------------------------------------------


def _default_language(chat_type: str, language_code: str | None) -> str:
    """A chat that never chose: a private chat speaks its user's language, others English."""
    return language_for_user(language_code) if chat_type == ChatType.PRIVATE else "en"


async def _read(
    context: BotContext, chat_id: int, chat_type: str, language_code: str | None
) -> tuple[ChatPreferences, str]:
    default = _default_language(chat_type, language_code)
    settings = await context.services.preferences.get(chat_id, default_language=default)
    return settings, default


async def cmd_settings(update: Update, context: BotContext) -> None:
    """Show the chat's settings, each with a button to change it."""
    message = update.effective_message
    if message is None:
        return
    chat = await register_chat(update, context)
    settings, _ = await _read(context, chat.id, message.chat.type, _language_code(update))
    text, markup = settings_view(translator(settings.language), settings, _now(context))
    await reply(update, text, markup=markup)


def _language_code(update: Update) -> str | None:
    user = update.effective_user
    return None if user is None else user.language_code


def _setting(name: str) -> Setting | None:
    return next((s for s in Setting if s.value == name), None)


def _now(context: BotContext) -> float:
    return context.services.preferences.now()


async def _change(update: Update, context: BotContext, setting: Setting) -> None:
    message = update.effective_message
    if message is None:
        return
    chat = await register_chat(update, context)
    settings, default = await _read(context, chat.id, message.chat.type, _language_code(update))
    t = translator(settings.language)
    now = _now(context)
    args = command_args(update)
    if not args:
        text, markup = choices_view(t, settings, setting, now)
        await reply(update, text, markup=markup)
        return
    if not await context.services.admins.may_manage(context.bot, message):
        await reply(update, escape(t._("Only this chat's admins can change its settings.")))
        return
    try:
        changed = await context.services.preferences.change(
            chat.id, setting, args, default_language=default
        )
    except SettingError as exc:
        await reply(update, f"{escape(error_text(t, exc))}\n{t._(USAGE[setting])}")
        return
    t = translator(changed.language)
    await reply(update, escape(confirmation(t, changed, setting, now)))


async def cmd_digest(update: Update, context: BotContext) -> None:
    """/digest off | 08:00 | 08:00,18:00."""
    await _change(update, context, Setting.DIGEST)


async def cmd_timezone(update: Update, context: BotContext) -> None:
    """/timezone America/La_Paz | UTC | -4; alone, the region's common zones as buttons."""
    await _change(update, context, Setting.TIMEZONE)


async def cmd_quiet(update: Update, context: BotContext) -> None:
    """/quiet 22:00-07:00 | off."""
    await _change(update, context, Setting.QUIET)


async def cmd_language(update: Update, context: BotContext) -> None:
    """/language en | es."""
    await _change(update, context, Setting.LANGUAGE)


async def cmd_format(update: Update, context: BotContext) -> None:
    """/format full | compact | post."""
    await _change(update, context, Setting.FORMAT)


async def cmd_previews(update: Update, context: BotContext) -> None:
    """/previews on | off."""
    await _change(update, context, Setting.PREVIEWS)


async def cmd_pictures(update: Update, context: BotContext) -> None:
    """/pictures on | off."""
    await _change(update, context, Setting.PICTURES)


COMMANDS: dict[str, Handler] = {
    "settings": cmd_settings,
    "digest": cmd_digest,
    "timezone": cmd_timezone,
    "quiet": cmd_quiet,
    "language": cmd_language,
    "format": cmd_format,
    "previews": cmd_previews,
    "pictures": cmd_pictures,
}


async def on_channel_command(update: Update, context: BotContext) -> None:
    """A settings command posted in a channel (CommandHandler does not see those)."""
    message = update.effective_message
    if message is None or is_for_another_bot(message.text, context.bot.username):
        return
    command, _ = split_command(message.text)
    handler = COMMANDS.get(command)
    if handler is not None:
        await handler(update, context)


async def _edit(context: BotContext, message: Message, text: str, markup: Any) -> None:
    await edit_in_place(context, message, text, markup=markup)


async def on_settings_button(update: Update, context: BotContext) -> None:
    """'cfg' the settings, 'cfg:<setting>' its choices, 'cfg:tz:<region>' its zones,
    'cfg:<setting>=<value>' a choice made: each edits the message in place."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    message = query.message
    chat = message.chat
    user = query.from_user
    settings, default = await _read(context, chat.id, chat.type, user.language_code)
    t = translator(settings.language)
    now = _now(context)
    rest = query.data[len(PREFIX) + 1 :]
    setting_name, has_value, value = rest.partition("=")
    if not message.is_accessible:
        await query.answer(t._("This button has expired."))
        return
    assert isinstance(message, Message)
    if not has_value:
        await query.answer()
        if setting_name.startswith("tz:"):
            view = choices_view(t, settings, Setting.TIMEZONE, now, region=setting_name[3:])
        elif (which := _setting(setting_name)) is not None:
            view = choices_view(t, settings, which, now)
        else:
            view = settings_view(t, settings, now)
        await _edit(context, message, *view)
        return
    allowed = chat.type == ChatType.PRIVATE or await context.services.admins.is_admin(
        context.bot, chat.id, user.id
    )
    if not allowed:
        await query.answer(t._("Only this chat's admins can change its settings."), show_alert=True)
        return
    which = _setting(setting_name)
    if which is None:
        await query.answer(t._("This button has expired."))
        return
    await register_chat(update, context)  # a button may outlive what we knew of the chat
    try:
        changed = await context.services.preferences.change(
            chat.id, which, value, default_language=default
        )
    except SettingError as exc:
        await query.answer(error_text(t, exc)[:200], show_alert=True)
        return
    t = translator(changed.language)
    await query.answer(t._("Saved."))
    await _edit(context, message, *settings_view(t, changed, now))


def register(app: BotApp) -> None:
    """Register the settings commands, their channel-post form and their buttons."""
    for name, handler in COMMANDS.items():
        app.add_handler(CommandHandler(name, handler, filters=filters.UpdateType.MESSAGE))
    names = "|".join(COMMANDS)
    app.add_handler(
        MessageHandler(
            filters.UpdateType.CHANNEL_POST & filters.Regex(rf"(?i)^/({names})(@\w+)?(\s|$)"),
            on_channel_command,
        )
    )
    app.add_handler(CallbackQueryHandler(on_settings_button, pattern=rf"^{PREFIX}(:|$)"))
