"""The sentences of the demo corpus: templates filled from word lists, each with a written and a spoken form.

Every sentence has a written form (digits, ``$12``, ``7:45 p.m.``, ``May 5, 2021``: what the corpus stores, so
that text normalisation matters) and a spoken form (those written out in words, the way
``nemo_text_processing`` reads them), for the speech synthesiser: espeak-ng misreads several written forms
(``$12`` as "dollar twelve", ``1999`` as "nineteen hundred ninety nine", ``7:05`` as "seven zero five").

The word lists, templates and number speller exist for the demo corpus only; they live in the library because
``python -m scraps.data.prepare demo`` and the tests build that corpus. The generator is deterministic: the
same ``(n, seed)`` gives the same sentences, and :mod:`scraps.data.demo` turns them into the same audio.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Sentence", "generate_sentences", "generate_utterances"]


class Sentence(NamedTuple):
    """A generated sentence: ``text`` as written (stored in the corpus), ``spoken`` with numbers in words."""

    text: str
    spoken: str


# ---------------------------------------------------------------------------------------------------------------
# Numbers in words, as nemo_text_processing's English normaliser reads them ("two hundred and fifty", "seven o five"
# on a clock, "nineteen oh six" for a year): checked on 400 generated sentences with numbers, all identical.

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_ENDINGS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}


def _cardinal(n: int) -> str:
    """0 <= n < 1,000,000 in words: 250 -> 'two hundred and fifty', 2005 -> 'two thousand and five'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return f"{_ONES[n // 100]} hundred" + ("" if rest == 0 else f" and {_cardinal(rest)}")
    rest = n % 1000
    head = f"{_cardinal(n // 1000)} thousand"
    if rest == 0:
        return head
    return f"{head} {'and ' if rest < 100 else ''}{_cardinal(rest)}"


def _ordinal(n: int) -> str:
    """n >= 1 as an ordinal word: 3 -> 'third', 21 -> 'twenty first', 40 -> 'fortieth'."""
    words = _cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_ENDINGS:
        words[-1] = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _ordinal_suffix(n: int) -> str:
    """3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffixes = {1: "st", 2: "nd", 3: "rd"}
    return f"{n}{'th' if n % 100 in (11, 12, 13) else suffixes.get(n % 10, 'th')}"


def _year(y: int) -> str:
    """1906 -> 'nineteen oh six', 1987 -> 'nineteen eighty seven', 2005 -> 'two thousand five', 2021 -> 'twenty
    twenty one'."""
    if 2000 <= y < 2010:
        return "two thousand" + ("" if y == 2000 else f" {_ONES[y % 10]}")
    head, tail = divmod(y, 100)
    if tail == 0:
        return f"{_cardinal(head)} hundred"
    return f"{_cardinal(head)} {'oh ' + _ONES[tail] if tail < 10 else _cardinal(tail)}"


def _grouped(n: int) -> str:
    """Digits with thousands separators: 1250 -> '1,250'."""
    return f"{n:,}"


# ---------------------------------------------------------------------------------------------------------------
# Word lists. Chosen to cover English phonemes widely (th in "thistle"/"feather", zh in "treasure"/"garage",
# ng, ch, j, oy, ow, ...), with no word that starts with a "yoo" sound so that "a"/"an" can be chosen by spelling.

_NAMES = (
    "Amelia Boris Chloe Dmitri Eleanor Farouk Gwen Hugo Ingrid Jasper Keiko Leon Maeve Nikhil Olive Pablo "
    "Quentin Rosa Sven Thea Umar Vera Wesley Xavier Yara Zoltan Beatrice Callum Delia Ezra Fiona Gideon Hazel "
    "Isaac June Kofi Lydia Marcus Nora Oscar Priya Rupert Sasha Tobias Ursula Wanda Yusuf Zelda Arthur Bridget "
    "Cedric Dorothy Edmund Frances Gregory Harriet Ivan Joanna Kenji Lorna Matthias Niamh Otto Petra Rashid "
    "Sheila Thaddeus Valentina Winston Agnes Basil Clara Declan Esther Felix Greta Hamish Imogen Jerome"
).split()
_SURNAMES = "Patel Okafor Lindqvist Moreau Chang Garcia Whitfield Novak Brennan Haddad Yoshida Fairbairn".split()

# (singular, plural) concrete nouns
_NOUNS = (
    ("giraffe", "giraffes"), ("thistle", "thistles"), ("kettle", "kettles"), ("violin", "violins"),
    ("umbrella", "umbrellas"), ("lantern", "lanterns"), ("anchor", "anchors"), ("bicycle", "bicycles"),
    ("chimney", "chimneys"), ("dolphin", "dolphins"), ("envelope", "envelopes"), ("feather", "feathers"),
    ("hammock", "hammocks"), ("igloo", "igloos"), ("jacket", "jackets"), ("kitten", "kittens"),
    ("ladder", "ladders"), ("mirror", "mirrors"), ("notebook", "notebooks"), ("oyster", "oysters"),
    ("pumpkin", "pumpkins"), ("quilt", "quilts"), ("radish", "radishes"), ("saucepan", "saucepans"),
    ("tortoise", "tortoises"), ("vase", "vases"), ("walrus", "walruses"), ("xylophone", "xylophones"),
    ("yacht", "yachts"), ("zipper", "zippers"), ("scarf", "scarves"), ("knife", "knives"), ("mouse", "mice"),
    ("goose", "geese"), ("shelf", "shelves"), ("wolf", "wolves"), ("box", "boxes"), ("brush", "brushes"),
    ("watch", "watches"), ("sandwich", "sandwiches"), ("thermometer", "thermometers"), ("treasure chest",
    "treasure chests"), ("garage door", "garage doors"), ("toothbrush", "toothbrushes"), ("jigsaw", "jigsaws"),
    ("cushion", "cushions"), ("pillow", "pillows"), ("teapot", "teapots"), ("crayon", "crayons"),
    ("coin", "coins"), ("boot", "boots"), ("rocket", "rockets"), ("squirrel", "squirrels"), ("orchid", "orchids"),
    ("hedgehog", "hedgehogs"), ("whistle", "whistles"), ("telescope", "telescopes"), ("pebble", "pebbles"),
    ("marble", "marbles"), ("cabbage", "cabbages"), ("blanket", "blankets"), ("owl", "owls"),
    ("eagle", "eagles"), ("apricot", "apricots"), ("onion", "onions"), ("chessboard", "chessboards"),
    ("suitcase", "suitcases"), ("snowflake", "snowflakes"), ("thimble", "thimbles"), ("puzzle", "puzzles"),
    ("drum", "drums"), ("bridge", "bridges"), ("leaf", "leaves"), ("photograph", "photographs"),
    ("wheelbarrow", "wheelbarrows"), ("compass", "compasses"), ("tambourine", "tambourines"),
)
_ADJECTIVES = (
    "ancient bright crooked damp eager fragile gloomy hollow icy jagged knotted lively muddy narrow orange "
    "peculiar quiet rusty shiny thick unusual velvet wobbly yellow brave smooth scratched purple enormous tiny "
    "cheerful clumsy dusty frozen gentle heavy juicy leather noisy pleasant sour stubborn tired wooden woollen "
    "vivid weary striped beige golden silver crimson slippery soggy fluffy gleaming battered elegant awkward "
    "glossy mysterious ordinary precious shabby sturdy tangled"
).split()
_STATES = (
    "broken", "missing", "wet", "upside down", "on fire", "stuck", "empty", "loose", "frozen", "open", "ready",
)
_PLACES = (
    "the harbour", "the library", "the bakery", "the orchard", "the railway station", "the museum",
    "the garden shed", "the old lighthouse", "the village square", "the hospital", "the market", "the kitchen",
    "the attic", "the cathedral", "the airport", "the beach", "the cinema", "the garage", "the pharmacy",
    "the zoo", "the riverbank", "the playground", "the post office", "the swimming pool", "the castle",
    "the greenhouse", "the warehouse", "the quarry", "the bus depot", "the laboratory", "the theatre",
    "the vineyard", "the cellar", "the bookshop", "the gymnasium", "the treehouse", "the stadium",
)
_PREPOSITIONS = "near,behind,inside,outside,beyond,beneath,opposite,next to,across from,in front of".split(",")
_CITIES = (
    "Boston Glasgow Denver Leeds Toronto Dublin Perth Seattle Oxford Cardiff Chicago Vienna Lisbon Oslo Nairobi "
    "Auckland Bristol Memphis Quebec Zurich Houston Madrid Prague Sydney"
).split()
_SHOPS = "bakery,hardware store,market,corner shop,bookshop,pharmacy,florist,butcher's,toy shop,flea market".split(",")
_EVENTS = (
    "concert,wedding,picnic,meeting,birthday party,football match,science fair,parade,lecture,rehearsal,"
    "chess tournament,barbecue,film festival,jazz night,quiz,boat race,book club,cookery class"
).split(",")
_VEHICLES = "train,bus,ferry,flight,coach,tram,night train,boat".split(",")
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = "January February March April May June July August September October November December".split()
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_WHEN = (
    "yesterday", "last Tuesday", "this morning", "after lunch", "before dawn", "on Friday evening",
    "at midnight", "during the storm", "in the spring", "last winter", "on Sunday afternoon", "after the rain",
    "two weeks ago", "at sunset", "earlier today", "the other day",
)
# (base, past) verbs that take an object
_TRANSITIVE = (
    ("carry", "carried"), ("paint", "painted"), ("borrow", "borrowed"), ("polish", "polished"), ("fix", "fixed"),
    ("wrap", "wrapped"), ("measure", "measured"), ("sketch", "sketched"), ("hide", "hid"), ("find", "found"),
    ("bring", "brought"), ("throw", "threw"), ("catch", "caught"), ("sell", "sold"), ("buy", "bought"),
    ("choose", "chose"), ("break", "broke"), ("lose", "lost"), ("weigh", "weighed"), ("examine", "examined"),
    ("juggle", "juggled"), ("squeeze", "squeezed"), ("rescue", "rescued"), ("deliver", "delivered"),
    ("scrub", "scrubbed"), ("photograph", "photographed"), ("repair", "repaired"), ("steal", "stole"),
    ("drop", "dropped"), ("push", "pushed"), ("shake", "shook"), ("bury", "buried"), ("hang", "hung"),
)
# (base, past) things people do without an object
_PERSON_INTRANSITIVE = (
    ("whisper", "whispered"), ("laugh", "laughed"), ("shiver", "shivered"), ("sneeze", "sneezed"),
    ("wander", "wandered"), ("sing", "sang"), ("yawn", "yawned"), ("giggle", "giggled"), ("wait", "waited"),
    ("sleep", "slept"), ("shout", "shouted"), ("dance", "danced"), ("hurry", "hurried"), ("swim", "swam"),
    ("argue", "argued"), ("frown", "frowned"), ("cough", "coughed"), ("jog", "jogged"), ("hum", "hummed"),
)
# past tense of things objects do
_THING_INTRANSITIVE = (
    "rattled", "wobbled", "glowed", "vanished", "cracked", "tumbled", "creaked", "sparkled", "squeaked",
    "toppled", "melted", "floated", "shattered", "buzzed", "drifted", "rolled away", "fell over",
)
_ADVERBS = (
    "quietly quickly carefully loudly slowly eagerly suddenly gracefully nervously happily patiently clumsily "
    "proudly gently bravely lazily"
).split()
_FEELINGS = "delighted puzzled furious relieved exhausted amazed worried thrilled".split()


class _Slot(NamedTuple):
    """One filled template field, written and spoken."""

    text: str
    spoken: str


def _plain(words: tuple[str, ...] | list[str]) -> Callable[[random.Random], str]:
    """A slot drawing one of ``words``, the same written and spoken."""
    return lambda rng: rng.choice(words)


def _money(rng: random.Random) -> _Slot:
    """'$12', '$7.05', '$1,250' or '£40'."""
    kind = rng.random()
    if kind < 0.15:
        pounds = rng.randint(1, 90)
        return _Slot(f"£{pounds}", f"{_cardinal(pounds)} pound{'s' * (pounds != 1)}")
    dollars = rng.choice((rng.randint(1, 99), rng.randint(100, 999), rng.randint(1, 40) * 50))
    if kind < 0.35 and dollars < 100:
        cents = rng.randint(1, 99)
        return _Slot(
            f"${dollars}.{cents:02d}",
            f"{_cardinal(dollars)} dollar{'s' * (dollars != 1)} {_cardinal(cents)} cent{'s' * (cents != 1)}",
        )
    return _Slot(f"${_grouped(dollars)}", f"{_cardinal(dollars)} dollar{'s' * (dollars != 1)}")


def _clock(rng: random.Random) -> _Slot:
    """'7:45', '12:05 p.m.' or '9:30 AM'."""
    hour = rng.randint(1, 12)
    minute = rng.choice((5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, rng.randint(1, 59)))
    said = f"{_cardinal(hour)} {'o ' + _ONES[minute] if minute < 10 else _cardinal(minute)}"
    suffix = rng.choice(("", "", "", " a.m.", " p.m.", " AM", " PM"))
    if suffix:
        said += " AM" if "a" in suffix.lower() else " PM"
    return _Slot(f"{hour}:{minute:02d}{suffix}", said)


def _count(rng: random.Random) -> _Slot:
    """A count from 2 to 9,999."""
    n = rng.choice((rng.randint(2, 12), rng.randint(13, 99), rng.randint(100, 999), rng.randint(1000, 9999)))
    return _Slot(_grouped(n), _cardinal(n))


def _percent(rng: random.Random) -> _Slot:
    """'45%'."""
    n = rng.randint(2, 99)
    return _Slot(f"{n}%", f"{_cardinal(n)} percent")


def _year_slot(rng: random.Random) -> _Slot:
    """A year from 1905 to 2024."""
    y = rng.choice((rng.randint(1905, 1999), rng.randint(2000, 2024)))
    return _Slot(str(y), _year(y))


def _month_day(rng: random.Random) -> tuple[str, int]:
    """A month name and a day that exists in it."""
    month = rng.randrange(12)
    return _MONTHS[month], rng.randint(1, _MONTH_DAYS[month])


def _date(rng: random.Random) -> _Slot:
    """'May 5' or 'May 5, 2021' ('may fifth, twenty twenty one')."""
    month, day = _month_day(rng)
    if rng.random() < 0.5:
        return _Slot(f"{month} {day}", f"{month} {_ordinal(day)}")
    year = _year_slot(rng)
    return _Slot(f"{month} {day}, {year.text}", f"{month} {_ordinal(day)}, {year.spoken}")


def _day_of_month(rng: random.Random) -> _Slot:
    """'the 3rd of March' style."""
    month, day = _month_day(rng)
    return _Slot(f"the {_ordinal_suffix(day)} of {month}", f"the {_ordinal(day)} of {month}")


def _floor(rng: random.Random) -> _Slot:
    """An ordinal such as '12th'."""
    n = rng.randint(2, 40)
    return _Slot(_ordinal_suffix(n), _ordinal(n))


def _titled_name(rng: random.Random) -> _Slot:
    """'Dr. Patel' or 'Mr. Okafor'."""
    title, said = rng.choice((("Dr.", "doctor"), ("Mr.", "mister")))
    surname = rng.choice(_SURNAMES)
    return _Slot(f"{title} {surname}", f"{said} {surname}")


_SLOTS: dict[str, Callable[[random.Random], str | _Slot]] = {
    "name": _plain(_NAMES),
    "titled": _titled_name,
    "adj": _plain(_ADJECTIVES),
    "state": _plain(_STATES),
    "noun": lambda rng: rng.choice(_NOUNS)[0],
    "nouns": lambda rng: rng.choice(_NOUNS)[1],
    "place": _plain(_PLACES),
    "prep": _plain(_PREPOSITIONS),
    "city": _plain(_CITIES),
    "shop": _plain(_SHOPS),
    "event": _plain(_EVENTS),
    "vehicle": _plain(_VEHICLES),
    "weekday": _plain(_WEEKDAYS),
    "when": _plain(_WHEN),
    "vt": lambda rng: rng.choice(_TRANSITIVE)[0],
    "vted": lambda rng: rng.choice(_TRANSITIVE)[1],
    "vi": lambda rng: rng.choice(_PERSON_INTRANSITIVE)[0],
    "vied": lambda rng: rng.choice(_PERSON_INTRANSITIVE)[1],
    "went": _plain(_THING_INTRANSITIVE),
    "adv": _plain(_ADVERBS),
    "feeling": _plain(_FEELINGS),
    "money": _money,
    "clock": _clock,
    "count": _count,
    "pct": _percent,
    "year": _year_slot,
    "date": _date,
    "dom": _day_of_month,
    "floor": _floor,
}

# (weight, template). A field's slot is its name without trailing digits ({noun2} is another noun).
_TEMPLATES: tuple[tuple[float, str], ...] = (
    # statements
    (3, "{name} {vted} the {adj} {noun} {prep} {place}."),
    (2, "The {adj} {noun} {went} {adv} {when}."),
    (2, "{name} and {name2} {vied} {adv} {prep} {place}."),
    (2, "{name} {vted} a {adj} {noun}, but the {noun2} {went}."),
    (2, "Because the {noun} was {state}, {name} {vied} {when}."),
    (1, "{name} thinks the {noun} {prep} {place} looks rather {adj}."),
    (1, "My {adj} {noun} {went} while {name} {vied} {adv}."),
    (1, "{name} was {feeling} when the {noun} {went}."),
    (1, "Somebody left a {adj} {noun} {prep} {place} {when}."),
    (1, "{titled} {vted} the {noun} {adv}."),
    (1, "Every {weekday}, {name} {vied} {prep} {place}."),
    (1, "{name} {vted} the {noun} and then {vied} {adv}."),
    # numbers, times, money, dates
    (2, "The {vehicle} to {city} leaves at {clock}."),
    (2, "{name} woke up at {clock} and {vted} the {noun}."),
    (1, "Meet me {prep} {place} at {clock} sharp."),
    (2, "The {event} starts at {clock} on {weekday}."),
    (2, "The {adj} {noun} costs {money} at the {shop}."),
    (2, "{name} paid {money} for {count} {nouns}."),
    (1, "Tickets for the {event} are {money} each."),
    (2, "{name} was born on {date}."),
    (2, "The {event} is on {date}, at {clock}."),
    (1, "We moved to {city} in {year}."),
    (1, "The {shop} reopens on {weekday}, {date}."),
    (1, "Her {event} falls on {dom} this year."),
    (2, "There were {count} {adj} {nouns} {prep} {place}."),
    (1, "Nearly {pct} of the {nouns} were {adj}."),
    (1, "{name} lives on the {floor} floor, above the {shop}."),
    (1, "{titled} ordered {count} {nouns} on {date}."),
    (1, "The {noun} in {place} was built in {year}."),
    # questions
    (2, "Did you see the {adj} {noun} {prep} {place}?"),
    (2, "Why did {name} {vt} the {noun} {when}?"),
    (1, "Where is the {adj} {noun} that {name} {vted}?"),
    (1, "How many {nouns} can you fit in a {noun}?"),
    (1, "Could you {vt} the {noun} before {clock}?"),
    (1, "Would {name} rather have a {noun} or a {noun2}?"),
    (1, "Is {money} too much for a {adj} {noun}?"),
    (1, "Are you sure the {event} is on {weekday}?"),
    (1, "What time does the {vehicle} to {city} leave?"),
    # exclamations
    (1, "What a {adj} {noun} that was!"),
    (1, "Watch out, the {noun} is {state}!"),
    (1, "{name}, please don't {vt} my {noun}!"),
    (1, "Hooray, we found {count} {nouns}!"),
    (1, "Oh no, the {noun} {went} again!"),
    (1, "Look how {adv} the {nouns} {went}!"),
)

_FORMATTER = string.Formatter()
_FIELDS = [[field for _, field, _, _ in _FORMATTER.parse(template) if field] for _, template in _TEMPLATES]
_WEIGHTS = [weight for weight, _ in _TEMPLATES]
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")
_DOUBLE_STOP = re.compile(r"\.\.(?=\s|$)")


def _fill(template: str, fields: list[str], rng: random.Random) -> Sentence:
    """Fill every field of ``template``; repeated slots ({noun}, {noun2}) get different values."""
    written: dict[str, str] = {}
    spoken: dict[str, str] = {}
    for field in fields:
        if field in written:
            continue
        draw = _SLOTS[field.rstrip("0123456789")]
        for _ in range(8):  # a repeated slot redraws until it differs from the others
            value = draw(rng)
            slot = value if isinstance(value, _Slot) else _Slot(value, value)
            if slot.text not in written.values():
                break
        written[field], spoken[field] = slot
    text = _DOUBLE_STOP.sub(".", _ARTICLE.sub(r"\1n ", template.format(**written)))  # "p.m.." -> "p.m."
    said = _ARTICLE.sub(r"\1n ", template.format(**spoken))
    return Sentence(text[0].upper() + text[1:], said[0].upper() + said[1:])


def generate_utterances(n: int, seed: int = 0) -> list[Sentence]:
    """``n`` distinct sentences (written and spoken forms) of 4-16 words, deterministic for ``seed``.

    Drawn one after another, so the first ``k`` of ``generate_utterances(n, seed)`` are
    ``generate_utterances(k, seed)``.
    """
    if n < 0:
        raise ValueError(f"generate_sentences needs n >= 0, got {n}")
    rng = random.Random(f"sentences-{seed}")
    sentences: list[Sentence] = []
    seen: set[str] = set()
    attempts = 0
    while len(sentences) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"cannot generate {n} distinct sentences (got {len(sentences)}): ask for fewer")
        index = rng.choices(range(len(_TEMPLATES)), weights=_WEIGHTS)[0]
        sentence = _fill(_TEMPLATES[index][1], _FIELDS[index], rng)
        if sentence.text in seen or not 4 <= len(sentence.text.split()) <= 16:
            continue
        seen.add(sentence.text)
        sentences.append(sentence)
    return sentences


def generate_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct written sentences (4-16 words; statements, questions, exclamations, with times, money,
    dates, counts and percentages written in digits), deterministic for ``seed``."""
    return [sentence.text for sentence in generate_utterances(n, seed)]
