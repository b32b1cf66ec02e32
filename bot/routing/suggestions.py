"""Topic suggestions for /start: frequent capitalised names in recent headlines. Pure.

The words that are never names (articles, pronouns, news filler, in several languages) are
a data file, stop_words.txt, read once when first needed.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources

from bot.text.language import fold
from bot.text.query import MAX_TOPIC_CHARS, Refusal, parse_topic

__all__ = ["stop_words", "suggest_topics"]


@functools.cache
def stop_words() -> frozenset[str]:
    """The folded words that suggestions never treat as names (stop_words.txt)."""
    text = resources.files("bot.routing").joinpath("stop_words.txt").read_text("utf-8")
    return frozenset(
        word for line in text.splitlines() if (word := line.strip()) and not word.startswith("#")
    )


_DISPLAY_WORD = re.compile(r"[^\W_]+(?:['’][^\W\d_]+)?")


def _is_name_word(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and fold(word) not in stop_words()


def suggest_topics(
    titles: Sequence[str], n: int = 5, *, exclude: Iterable[str] = (), min_count: int = 1
) -> list[str]:
    """A few topics for buttons: capitalised names recurring in headlines.

    exclude: topic keys never to suggest (those the chat follows, mutes included);
    min_count: how often a name must occur to count as recurring.
    """
    excluded = {key.lstrip("-") for key in exclude}
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    first_seen: dict[str, int] = {}
    display: dict[str, Counter[str]] = {}
    mid_sentence: set[str] = set()
    order = 0

    def note(key: str, shown: str) -> None:
        nonlocal order
        display.setdefault(key, Counter())[shown] += 1
        if key not in first_seen:
            first_seen[key] = order
            order += 1

    titled: list[list[tuple[str, bool, bool]]] = []
    for title in titles:
        matches = list(_DISPLAY_WORD.finditer(title))
        if not matches:
            continue
        # Title Case headlines capitalise every longer word, so they say nothing about names.
        if len(matches) >= 4 and not any(
            len(m.group()) >= 4 and m.group()[0].islower() for m in matches
        ):
            continue
        row: list[tuple[str, bool, bool]] = []
        previous_end = -1
        for position, match in enumerate(matches):
            word = match.group()
            # A possessive's "'s" is not part of the name: "Bolivia's" -> "Bolivia".
            if word[-2:] in ("'s", "’s"):
                word = word[:-2]
            adjacent = previous_end >= 0 and title[previous_end : match.start()].isspace()
            previous_end = match.end() if word == match.group() else -1
            row.append((word, position == 0, adjacent))
            if position > 0 and _is_name_word(word):
                mid_sentence.add(fold(word))
        titled.append(row)

    for row in titled:
        for i, (word, initial, adjacent) in enumerate(row):
            if not _is_name_word(word):
                continue
            key = fold(word)
            if initial and key not in mid_sentence:
                continue
            words[key] += 1
            note(key, word)
            if i > 0 and adjacent:
                prev_word, prev_initial, _ = row[i - 1]
                prev_key = fold(prev_word)
                # A capitalised article mid-sentence starts a name: "La Paz", "El Alto".
                if (
                    _is_name_word(prev_word) and (not prev_initial or prev_key in mid_sentence)
                ) or (not prev_initial and len(prev_word) >= 2 and prev_word[0].isupper()):
                    pairs[(prev_key, key)] += 1
                    note(f"{prev_key} {key}", f"{prev_word} {word}")

    scores: Counter[str] = Counter(words)
    in_names: dict[str, int] = {}
    for (left, right), count in pairs.items():
        # A pair that accounts for most uses of its words is a name ("South Africa"): prefer it.
        if count >= 2 and count * 2 >= min(words[left] or count, words[right]):
            scores[f"{left} {right}"] = count
            for word in (left, right):
                scores[word] -= count
                in_names[word] = max(in_names.get(word, 0), count)
    for word, count in in_names.items():
        # Mostly seen inside a name: the name alone stands for it ("Morales" in "Evo Morales").
        if scores[word] < count:
            del scores[word]

    ranked = sorted(
        (key for key, score in scores.items() if score >= max(min_count, 1)),
        key=lambda key: (-scores[key], first_seen[key]),
    )
    suggestions: list[str] = []
    taken: set[str] = set()
    for key in ranked:
        shown = display[key].most_common(1)[0][0]
        parsed = parse_topic(shown)
        if isinstance(parsed, Refusal) or parsed.mute or parsed.excluded:
            continue
        normalized = parsed.key
        if normalized in taken or normalized in excluded:
            continue
        if len(("t+:" + normalized).encode()) > 64 or len(shown) > MAX_TOPIC_CHARS:
            continue
        taken.add(normalized)
        suggestions.append(shown)
        if len(suggestions) >= n:
            break
    return suggestions
