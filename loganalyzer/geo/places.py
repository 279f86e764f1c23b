"""ISO 3166 places: codes checked and named, so a typo never becomes a confident zero.

``--watch Liaoning`` or ``--where region_iso=LN`` used to match nothing and print a
watched zero row, which reads as "no access from there". Codes are now checked
against ISO 3166-1 and ISO 3166-2 as pycountry ships them (the iso-codes data
that Debian and most distributions carry), the codes GeoLite2, GeoIP2 and DB-IP
write. A name or a malformed code is refused with the closest codes as a hint.

pycountry loads its tables on first use (about 0.3 s), so nothing here runs
unless a place was given.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata

from loganalyzer.errors import UsageError

NOT_IN_ISO = {"XK": "Kosovo"}
"""Country codes MaxMind and DB-IP use that ISO 3166-1 has not assigned."""


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


@functools.cache
def _countries() -> dict[str, str]:
    import pycountry

    names = {c.alpha_2: str(getattr(c, "common_name", c.name)) for c in pycountry.countries}
    return {**names, **NOT_IN_ISO}


@functools.cache
def _alpha3() -> dict[str, str]:
    import pycountry

    return {c.alpha_3: c.alpha_2 for c in pycountry.countries}


@functools.cache
def _subdivisions() -> dict[str, str]:
    import pycountry

    return {s.code: str(s.name) for s in pycountry.subdivisions}


def place_name(code: str) -> str | None:
    """The ISO name of a country (``ES``) or subdivision (``CN-LN``), if it is one.

    Example:
        >>> place_name("ES"), place_name("CN-LN"), place_name("CN-XX")
        ('Spain', 'Liaoning Sheng', None)
    """
    code = code.strip().upper()
    return (_subdivisions() if "-" in code else _countries()).get(code)


def _words(name: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in _fold(name)).split()


def _suggestions(text: str, *, subdivision: bool | None) -> list[str]:
    """Codes a person who typed ``text`` may have meant, best first."""
    folded = _fold(text.strip().lstrip("=").strip())
    if not folded:
        return []
    table: dict[str, str] = {}
    if subdivision is not True:
        table.update(_countries())
    if subdivision is not False:
        table.update(_subdivisions())
    # Rank: the whole name, then the code's own part (LN for CN-LN), then a word
    # of the name (Liaoning in "Liaoning Sheng"); spelling slips last.
    ranked: list[tuple[int, str]] = []
    for code, name in table.items():
        if folded == _fold(name) or folded == code.casefold():
            ranked.append((0, code))
        elif "-" in code and code.split("-", 1)[1].casefold() == folded:
            ranked.append((1, code))
        elif folded in _words(name) or (" " in folded and folded in " ".join(_words(name))):
            ranked.append((2, code))
    if subdivision is not True and (alpha2 := _alpha3().get(folded.upper())):
        ranked.append((0, alpha2))  # ESP for ES
    if not ranked:
        pool: dict[str, str] = {}
        for code, name in table.items():
            for key in (_fold(name), *_words(name)):
                pool.setdefault(key, code)
        close = difflib.get_close_matches(folded, list(pool), n=3, cutoff=0.8)
        ranked = [(3, pool[m]) for m in close]
    return list(dict.fromkeys(code for _, code in sorted(ranked)))[:3]


def _hint(codes: list[str]) -> str:
    if not codes:
        return ""
    named = [f"{c} ({place_name(c)})" for c in codes]
    return "; did you mean " + " or ".join(named) + "?"


def check_place(text: str, *, option: str, subdivision: bool | None = None) -> str:
    """The upper-case ISO code ``text`` names, or a usage error with a suggestion.

    Args:
        text: what the user typed.
        option: the option it came from, for the message (``--watch``).
        subdivision: True for an ISO 3166-2 code only, False for a country only,
            None for either (as ``--watch`` takes).

    Raises:
        UsageError: when ``text`` is not such a code.

    Example:
        >>> check_place("cn-ln", option="--watch")
        'CN-LN'
        >>> check_place("Liaoning", option="--watch")
        Traceback (most recent call last):
        ...
        loganalyzer.errors.UsageError: --watch 'Liaoning' is not an ISO 3166 code; did you mean CN-LN (Liaoning Sheng)?
    """  # noqa: E501
    code = text.strip().upper()
    is_sub = "-" in code

    def hint() -> str:
        return _hint(_suggestions(text, subdivision=subdivision))

    if subdivision is not None and is_sub != subdivision:
        want = "an ISO 3166-2 subdivision code (CN-LN)" if subdivision else "a country code (ES)"
        raise UsageError(f"{option} {text!r} is not {want}{hint()}")
    if place_name(code) is not None:
        return code
    what = "ISO 3166-2" if is_sub else "ISO 3166"
    country = code.split("-", 1)[0]
    if is_sub and country in _countries() and not hint():
        own = sorted(c for c in _subdivisions() if c.startswith(f"{country}-"))
        span = f"; its codes run {own[0]} to {own[-1]}" if own else ""
        raise UsageError(
            f"{option} {text!r}: {_countries()[country]} ({country}) has no ISO 3166-2 "
            f"subdivision {code.split('-', 1)[1]!r}{span} (see ISO 3166-2:{country})"
        )
    raise UsageError(f"{option} {text!r} is not an {what} code{hint()}")


__all__ = ["NOT_IN_ISO", "check_place", "place_name"]
