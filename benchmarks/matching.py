"""Routing benchmark: TopicIndex against a naive loop over every subscription.

    python benchmarks/matching.py [--chats 100000 --topics 5 --headlines 500]

Builds an index of chats x topics drawn Zipf-like from a vocabulary of countries, people,
places and subjects (some of them two-word phrases); a fifth of the topics use the query
language's `+` (`lithium + chile`) or `-` (`lithium -mining`), and a few chats mute one
topic. It generates headlines (a title and a ~60-word summary) and routes every headline,
stemmed in English. The naive baseline checks every subscription against every headline
with the reference semantics (each topic's stems worked out once, then one search per part
per (subscription, headline)); it runs on a sample of chats only, because the full loop
would take many minutes, and its time is scaled up linearly to all chats, which is exact for
a loop whose cost is the same for each subscription. On the sample both methods must
produce the same routes, which the script checks.

Times are CPU time of this process (time.process_time), so that other work on the machine
does not distort the comparison.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.routing import TopicIndex, topic_of_key
from bot.text.language import stems
from bot.text.query import HeadlineTerms, Part, Refusal, Topic, headline_terms, parse_topic


def _split(text: str) -> list[str]:
    return text.split()


COUNTRIES = _split("""
Afghanistan Albania Algeria Andorra Angola Argentina Armenia Australia Austria Azerbaijan
Bahamas Bahrain Bangladesh Barbados Belarus Belgium Belize Benin Bhutan Bolivia Bosnia Botswana
Brazil Brunei Bulgaria Burundi Cambodia Cameroon Canada Chad Chile China Colombia Comoros Congo
Croatia Cuba Cyprus Czechia Denmark Djibouti Dominica Ecuador Egypt Eritrea Estonia Eswatini
Ethiopia Fiji Finland France Gabon Gambia Georgia Germany Ghana Greece Grenada Guatemala Guinea
Guyana Haiti Honduras Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Jamaica
Japan Jordan Kazakhstan Kenya Kiribati Kosovo Kuwait Kyrgyzstan Laos Latvia Lebanon Lesotho
Liberia Libya Liechtenstein Lithuania Luxembourg Madagascar Malawi Malaysia Maldives Mali Malta
Mauritania Mauritius Mexico Micronesia Moldova Monaco Mongolia Montenegro Morocco Mozambique
Myanmar Namibia Nauru Nepal Netherlands Nicaragua Niger Nigeria Norway Oman Pakistan Palau
Palestine Panama Paraguay Peru Philippines Poland Portugal Qatar Romania Russia Rwanda Samoa
Senegal Serbia Seychelles Singapore Slovakia Slovenia Somalia Spain Sudan Suriname Sweden
Switzerland Syria Taiwan Tajikistan Tanzania Thailand Togo Tonga Tunisia Turkey Turkmenistan
Tuvalu Uganda Ukraine Uruguay Uzbekistan Vanuatu Venezuela Vietnam Yemen Zambia Zimbabwe
""")

PEOPLE = _split("""
Arce Morales Maduro Lula Milei Boric Petro Sheinbaum Bukele Noboa Ortega Castro Guterres Ramaphosa
Tinubu Ruto Kagame Museveni Abiy Sisi Erdogan Putin Zelensky Macron Scholz Merz Meloni Sanchez
Starmer Sunak Modi Xi Kishida Albanese Trudeau Carney Biden Trump Harris Netanyahu Khamenei
Pezeshkian Assad Sharaa Musk Bezos Zuckerberg Altman Nadella Pichai Cook Buffett Dimon Lagarde
Powell Georgieva Banga Tedros Francis Leo Thunberg Messi Ronaldo Mbappe Haaland Nadal Djokovic
Alcaraz Sinner Swiatek Gauff Biles Bolt Kipchoge Hamilton Verstappen Norris Leclerc Ali Kim Lee
Park Chen Wang Singh Khan Ahmed Hussein Mandela Zuma Malema Mnangagwa Hichilema Tshisekedi
""")

PLACES = _split("""
Bogota Lima Quito Caracas Santiago Montevideo Asuncion Brasilia Havana Managua Tegucigalpa
Gaza Jerusalem Beirut Damascus Baghdad Tehran Kabul Karachi Lahore Delhi Mumbai Dhaka Colombo
Kathmandu Beijing Shanghai Taipei Tokyo Seoul Pyongyang Manila Jakarta Hanoi Bangkok
Nairobi Lagos Abuja Accra Dakar Khartoum Kinshasa Goma Harare Lusaka Johannesburg
Pretoria Durban Cairo Tripoli Tunis Algiers Rabat London Paris Berlin Madrid Rome Kyiv Moscow
Warsaw Vienna Brussels Geneva Davos Washington Chicago Texas California Florida Ohio Arizona
Sahel Darfur Donbas Crimea Kashmir Tigray Amazon Andes Patagonia Caribbean Balkans Siberia
""")

SUBJECTS = _split("""
election elections inflation economy recession tariffs trade debt budget taxes oil gas lithium
copper gold mining drought floods wildfires earthquake hurricane cyclone climate emissions
vaccine cholera malaria measles ebola mpox pandemic hospital doctors nurses strike protest
protests coup ceasefire sanctions refugees migrants migration border asylum deportation police
corruption bribery court verdict trial prison amnesty referendum constitution parliament senate
congress president minister cabinet opposition rebels militia army navy drones missiles nuclear
uranium space satellite rocket football cricket rugby olympics tennis cycling marathon cinema
music festival museum heritage archaeology fossils dinosaurs whales forests deforestation
rainforest farming coffee cocoa wheat maize rice famine hunger poverty unemployment wages
pensions housing rents students universities schools teachers internet censorship journalists
press hackers cyberattack bitcoin crypto stocks bonds banks currency peso rand naira rupee
""")

PHRASES = [
    "south africa",
    "united states",
    "united kingdom",
    "european union",
    "african union",
    "saudi arabia",
    "north korea",
    "south korea",
    "new zealand",
    "sri lanka",
    "costa rica",
    "el salvador",
    "dominican republic",
    "puerto rico",
    "la paz",
    "sao paulo",
    "buenos aires",
    "mexico city",
    "cape town",
    "new york",
    "white house",
    "central bank",
    "world bank",
    "climate change",
    "human rights",
    "world cup",
    "artificial intelligence",
    "supreme court",
    "interest rates",
    "oil prices",
    "free trade",
    "minimum wage",
    "general strike",
    "red sea",
    "hong kong",
    "addis ababa",
    "west bank",
    "evo morales",
    "luis arce",
    "javier milei",
    "donald trump",
    "cyril ramaphosa",
]

FILLER = _split("""
the a an of in on at to for with by from after before over under about against amid as and or
but says said will would could may might has have had is are was were be been new first last
more less than up down out into officials government leaders report reports talks deal plan
week year day month today yesterday people country region city state local national global
world public private major minor new old big small high low early late long short after
despite while during ahead following amid calls warns urges rejects backs faces wins loses
""")


def vocabulary() -> list[str]:
    """Every distinct topic in a fixed, interleaved order so that Zipf ranks mix kinds."""
    words = [w.lower() for w in COUNTRIES + PEOPLE + PLACES + SUBJECTS] + PHRASES
    seen: dict[str, None] = {}
    for word in words:
        topic = parse_topic(word)
        if not isinstance(topic, Refusal):
            seen.setdefault(topic.key, None)
    ordered = list(seen)
    random.Random(7).shuffle(ordered)
    return ordered


class Zipf:
    """Draw items with weight 1 / rank**s."""

    def __init__(self, items: Sequence[str], s: float, rng: random.Random) -> None:
        self.items = list(items)
        self.cum = list(accumulate(1 / (rank**s) for rank in range(1, len(items) + 1)))
        self.rng = rng

    def draw(self, k: int = 1) -> list[str]:
        return self.rng.choices(self.items, cum_weights=self.cum, k=k)


def make_subscriptions(
    chats: int, per_chat: int, zipf: Zipf, rng: random.Random, combined: float = 0.2
) -> list[tuple[int, list[str]]]:
    subs = []
    for n in range(chats):
        # Telegram ids: positive for users, large negative for groups and channels.
        chat_id = 10_000_000 + n * 37 if n % 4 else -1_000_000_000_000 - n
        topics: dict[str, None] = {}
        while len(topics) < per_chat:
            first = zipf.draw()[0]
            if rng.random() < combined:  # `a + b` or `a -b`
                second = zipf.draw()[0]
                if second == first:
                    continue
                text = f"{first} + {second}" if rng.random() < 0.5 else f"{first} -{second}"
                parsed = parse_topic(text)
                if isinstance(parsed, Refusal):
                    continue
                topics.setdefault(parsed.key, None)
            else:
                topics.setdefault(first, None)
        chosen = list(topics)
        if rng.random() < 0.05 and " " not in chosen[-1]:  # a few chats mute a topic instead
            chosen[-1] = "-" + chosen[-1]
        subs.append((chat_id, chosen))
    return subs


def _words(zipf: Zipf, rng: random.Random, n: int, topical: int) -> str:
    out = rng.choices(FILLER, k=n - topical)
    for topic in zipf.draw(topical):
        out.insert(rng.randrange(len(out) + 1), topic.title())
    return " ".join(out)


def make_headlines(n: int, zipf: Zipf, rng: random.Random) -> list[tuple[str, str]]:
    headlines = []
    for _ in range(n):
        title = _words(zipf, rng, rng.randint(8, 12), rng.randint(1, 2))
        summary = _words(zipf, rng, rng.randint(50, 70), rng.randint(1, 3)) + "."
        headlines.append((title, summary))
    return headlines


def build_index(subs: Sequence[tuple[int, list[str]]]) -> TopicIndex:
    index = TopicIndex()
    for chat_id, topics in subs:
        for topic in topics:
            index.add(chat_id, topic)
    return index


def _occurs(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    n = len(needle)
    first = needle[0]
    return any(
        haystack[i] == first and tuple(haystack[i : i + n]) == tuple(needle)
        for i in range(len(haystack) - n + 1)
    )


def naive_routes(
    subs: Sequence[tuple[int, list[str]]], headlines: Sequence[tuple[str, str]]
) -> set[tuple[int, int]]:
    """Every subscription against every headline, as a simple bot would do it."""
    compiled: dict[
        str, tuple[Topic, list[tuple[bool, tuple[str, ...]]], list[tuple[bool, tuple[str, ...]]]]
    ] = {}
    for _, topics in subs:
        for key in topics:
            if key in compiled:
                continue
            topic = topic_of_key(key)
            assert topic is not None

            def prepared(parts: Sequence[Part]) -> list[tuple[bool, tuple[str, ...]]]:
                return [
                    (p.exact, tuple(p.words if p.exact else stems(p.words, "en"))) for p in parts
                ]

            compiled[key] = (topic, prepared(topic.parts), prepared(topic.excluded))

    def hit(terms: HeadlineTerms, parts: list[tuple[bool, tuple[str, ...]]]) -> list[bool]:
        return [_occurs(seq, terms.words if exact else terms.stems) for exact, seq in parts]

    routes: set[tuple[int, int]] = set()
    for h, (title, summary) in enumerate(headlines):
        terms = headline_terms(title, summary, (), "en")
        for chat_id, topics in subs:
            matched = False
            muted = False
            for key in topics:
                topic, parts, excluded = compiled[key]
                if all(hit(terms, parts)) and not any(hit(terms, excluded)):
                    if topic.mute:
                        muted = True
                    else:
                        matched = True
            if matched and not muted:
                routes.add((chat_id, h))
    return routes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--topics", type=int, default=5, help="topics per chat")
    parser.add_argument("--headlines", type=int, default=500)
    parser.add_argument("--naive-chats", type=int, default=400, help="sample for the baseline")
    parser.add_argument(
        "--zipf", type=float, default=1.0, help="Zipf exponent of the topics chats pick"
    )
    parser.add_argument(
        "--news-zipf",
        type=float,
        default=0.5,
        help="Zipf exponent of the topics headlines mention (news is broader than interests)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    vocab = vocabulary()
    subs = make_subscriptions(args.chats, args.topics, Zipf(vocab, args.zipf, rng), rng)
    headlines = make_headlines(args.headlines, Zipf(vocab, args.news_zipf, rng), rng)
    total_subs = sum(len(t) for _, t in subs)
    combined = sum(1 for _, t in subs for k in t if " + " in k or " -" in k)
    mean_words = sum(len(t.split()) + len(s.split()) for t, s in headlines) / len(headlines)
    print(f"vocabulary: {len(vocab)} distinct topics ({len(PHRASES)} two-word phrases)")
    print(f"chats: {args.chats:,} x {args.topics} topics = {total_subs:,} subscriptions")
    print(f"topics using + or -: {combined:,} ({combined / max(total_subs, 1):.0%})")
    print(f"headlines: {len(headlines)}, {mean_words:.0f} words each on average")

    gc.collect()
    started = time.process_time()
    index = build_index(subs)
    build_s = time.process_time() - started
    print(f"\nindex build: {build_s:.2f} s CPU")

    started = time.process_time()
    route_count = 0
    sample_ids = {chat_id for chat_id, _ in subs[: args.naive_chats]}
    index_sample_routes: set[tuple[int, int]] = set()
    for h, (title, summary) in enumerate(headlines):
        routes = index.route(headline_terms(title, summary, (), "en"))
        route_count += len(routes)
        index_sample_routes.update((c, h) for c in routes.keys() & sample_ids)
    # The sample bookkeeping above is part of the timed loop; it only makes the index slower.
    route_s = time.process_time() - started
    per_headline_ms = route_s / len(headlines) * 1000
    print(
        f"index routing: {route_s:.2f} s CPU for {len(headlines)} headlines "
        f"({per_headline_ms:.2f} ms per headline)"
    )
    print(
        f"routes (chat, headline): {route_count:,} "
        f"({route_count / len(headlines):,.0f} chats per headline on average, "
        f"{route_s / max(route_count, 1) * 1e6:.2f} µs per route)"
    )

    sample = subs[: args.naive_chats]
    started = time.process_time()
    naive = naive_routes(sample, headlines)
    naive_s = time.process_time() - started
    scale = len(subs) / len(sample)
    naive_full_s = naive_s * scale
    print(
        f"\nnaive loop on a sample of {len(sample):,} chats "
        f"({sum(len(t) for _, t in sample):,} subscriptions) x {len(headlines)} headlines: "
        f"{naive_s:.2f} s CPU"
    )
    print(
        f"naive, extrapolated linearly to {len(subs):,} chats (x{scale:.0f}): "
        f"{naive_full_s:.0f} s CPU"
    )
    agree = naive == index_sample_routes
    print(
        f"routes on the sample: naive {len(naive):,}, index {len(index_sample_routes):,}, ", end=""
    )
    print("identical" if agree else "DIFFERENT")
    print(f"speed-up (routing): {naive_full_s / route_s:,.0f}x")

    del index
    gc.collect()
    tracemalloc.start()
    index = build_index(subs)
    index_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\nindex memory (tracemalloc, second build): {index_bytes / 2**20:.1f} MiB, "
        f"{index_bytes / len(index):.0f} bytes per subscription"
    )
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
