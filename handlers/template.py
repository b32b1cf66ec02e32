"""/template: the shape of this chat's posts (the post format), shown, set or reset.

`/template` shows the chat's template and its placeholders; `/template TEXT` (the rest of the
message, line breaks kept) sets it and answers with the newest headline as a post made from
it; `/template reset` brings back the default. In groups and channels only admins may change
it, as with the other settings.
"""

from __future__ import annotations

import re

from telegram import LinkPreviewOptions, Message, Update
from telegram.error import BadRequest

from bot.context import BotContext
from bot.delivery.policy import Action, decide
from bot.formatting import Post, escape
from bot.text.i18n import N_, Translator, translator
from bot.text.template import DEFAULT_TEMPLATE, PLACEHOLDER_HELP, PLACEHOLDERS, TemplateError
from handlers.common import preferences_of, register_chat, reply
from storage.models import ChatPreferences, MessageFormat

USAGE = N_(
    "Usage: <code>/template</code> shows it; <code>/template TEXT</code> sets it (line "
    "breaks kept); <code>/template reset</code> brings back the default."
)
_COMMAND = re.compile(r"^/template(@\w+)?(?=\s|$)", re.IGNORECASE)
RESET = ("reset", "default", "off", "restablecer")


def template_text(message: Message) -> str:
    """What follows the command word, line breaks kept ('' when nothing does)."""
    text = message.text or ""
    match = _COMMAND.match(text.lstrip())
    rest = text.lstrip()[match.end() :] if match else ""
    return rest.strip()


def template_view(t: Translator, settings: ChatPreferences) -> str:
    """/template alone: the chat's template, its placeholders, how to change it."""
    own = settings.template is not None
    current = settings.template or DEFAULT_TEMPLATE
    title = t._("Your template") if own else t._("The default template")
    lines = [f"<b>{escape(title)}</b>", f"<pre>{escape(current)}</pre>", ""]
    lines.append("<b>" + escape(t._("Placeholders")) + "</b>")
    lines += [
        f"<code>{{{name}}}</code> {escape(t._(PLACEHOLDER_HELP[name]))}" for name in PLACEHOLDERS
    ]
    lines.append("")
    lines.append(
        escape(
            t._(
                "Write {open} and {close} for braces. Tags: b, i, u, s, code, pre, blockquote "
                'and a href="{link}". Values are escaped; a post too long is cut in its summary.'
            ).format(open="{{", close="}}", link="{link}")
        )
    )
    if settings.format != MessageFormat.POST:
        lines.append(escape(t._("Templates shape posts: /format post makes each headline a post.")))
    lines.append(t._(USAGE))
    return "\n".join(lines)


async def _show_post(update: Update, context: BotContext, post: Post, pictures: bool) -> None:
    """The post as the chat would get it: with its picture, or as text with its preview."""
    message = update.effective_message
    if message is None:
        return
    if pictures and post.picture:
        try:
            await message.reply_photo(
                post.picture, caption=post.caption, do_quote=False, read_timeout=30
            )
            return
        except BadRequest as exc:
            if decide(exc).action is not Action.RESEND_WITHOUT_PICTURE:
                raise
    preview = (
        LinkPreviewOptions(url=post.link, prefer_large_media=True)
        if post.link
        else LinkPreviewOptions(is_disabled=True)
    )
    await message.reply_text(post.text, link_preview_options=preview, do_quote=False)


async def cmd_template(update: Update, context: BotContext) -> None:
    """/template [TEXT | reset]."""
    message = update.effective_message
    if message is None:
        return
    chat = await register_chat(update, context)
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    text = template_text(message)
    if not text:
        await reply(update, template_view(t, settings))
        return
    services = context.services
    if not await services.admins.may_manage(context.bot, message):
        await reply(update, escape(t._("Only this chat's admins can change its settings.")))
        return
    reset = text.lower() in RESET
    try:
        changed = await services.preferences.set_template(
            chat.id, None if reset else text, default_language=settings.language
        )
    except TemplateError as exc:
        refused = t._("⚠️ Template not saved: {reason}").format(reason=exc.describe(t))
        await reply(update, f"{escape(refused)}\n{t._(USAGE)}")
        return
    saved = t._("✅ Back to the default template.") if reset else t._("✅ Template saved.")
    post = await services.delivery.preview_post(chat.id, changed)
    if post is None:
        await reply(update, escape(saved + " " + t._("No headline yet to show it with.")))
        return
    await reply(update, escape(saved + " " + t._("The newest headline, as a post:")))
    await _show_post(update, context, post, changed.pictures)
