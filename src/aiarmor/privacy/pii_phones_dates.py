"""Recognisers of phone numbers and dates of birth, the two loosest formats of ``privacy.pii``.

Phone numbers: E.164 (``+`` or ``00``, an assigned country calling code, a national number of a
valid length for the country), NANP (``(415) 555-0132``, area and exchange codes valid), and
national trunk-prefix formats or bare digit strings only in context (a ``phone`` column or a
keyword such as "tel" before the number). Dates of birth: real calendar dates 0-120 years
before today, never followed by a time of day, in birth-date columns or after "born"/"DOB".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from aiarmor.privacy.pii_patterns import Entity, in_context, name_tokens, only_digits

# --------------------------------------------------------------------------- phones
_E164 = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+|00)[1-9][0-9 ().-]{6,20}\d(?![\w-]|\.\d)")
_NANP = re.compile(
    r"(?<![\w.+-])(?<!\d[ .-])(?:\+?1[ .-]?)?(?:\(([2-9]\d\d)\) ?|([2-9]\d\d)([ .-]))"
    r"([2-9]\d\d)[ .-](\d{4})(?![\w]|[.-]\d)"
)
_NATIONAL = re.compile(r"(?<![\w.+-])(?<!\d[ .-])\(?0\d{1,4}\)?(?:[ -]\d{2,8}){1,4}(?![\w]|[.-]\d)")
_BARE = re.compile(r"(?<![\w.+-])(?<!\d[ .-])\d{10,11}(?![\w]|[.-]\d)")

_CODES = (
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 "
    "61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 222 "
    "223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 "
    "244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265 "
    "266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 "
    "372 373 374 375 376 377 378 380 381 382 383 385 386 387 389 420 421 423 500 501 502 "
    "503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 670 672 673 674 "
    "675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692 850 852 853 855 "
    "856 880 886 960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 992 "
    "993 994 995 996 998 "
)
_CALLING_CODES: frozenset[str] = frozenset(_CODES.split())
"""Assigned ITU-T E.164 country calling codes (geographic areas)."""

_NSN_LENGTHS: dict[str, tuple[int, int]] = {
    "1": (10, 10), "7": (10, 10), "33": (9, 9), "34": (9, 9), "39": (6, 11), "44": (9, 10),
    "49": (6, 13), "31": (9, 9), "32": (8, 9), "41": (9, 9), "43": (4, 13), "45": (8, 8),
    "46": (7, 9), "47": (8, 8), "48": (9, 9), "61": (9, 9), "81": (9, 10), "86": (10, 11),
    "91": (10, 10), "55": (10, 11), "52": (10, 10), "353": (7, 9), "351": (9, 9),
}  # fmt: skip
"""National significant number lengths of the most common countries (others: 4..14)."""


def e164_ok(digits: str) -> bool:
    """A known country calling code followed by a national number of a valid length."""
    if not 8 <= len(digits) <= 15:
        return False
    for size in (1, 2, 3):
        code = digits[:size]
        if code in _CALLING_CODES:
            low, high = _NSN_LENGTHS.get(code, (4, 14))
            return low <= len(digits) - size <= high
    return False


def _nanp_ok(area: str, exchange: str) -> bool:
    """NANP plan: no N11 service codes, no N9X (reserved) or 37X/96X (unassigned) areas."""
    bad_area = area[1:] == "11" or area[1] == "9" or area[:2] in ("37", "96")
    return not bad_area and exchange[1:] != "11"


def phones(text: str, hinted: bool) -> Iterator[str]:
    taken: list[tuple[int, int]] = []
    for m in _E164.finditer(text):
        digits = only_digits(m.group(0))
        digits = digits[2:] if m.group(0).startswith("00") else digits
        if e164_ok(digits):
            taken.append(m.span())
            yield m.group(0)
    for m in _NANP.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        if _nanp_ok(m.group(1) or m.group(2), m.group(4)):
            taken.append(m.span())
            yield m.group(0)
    for pattern in (_NATIONAL, _BARE):
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for s, e in taken):
                continue
            digits = only_digits(m.group(0))
            if 9 <= len(digits) <= 11 and len(set(digits)) > 2 and _phone_context(text, m, hinted):
                taken.append(m.span())
                yield m.group(0)


def _phone_context(text: str, m: re.Match[str], hinted: bool) -> bool:
    return hinted or in_context(Entity.PHONE, text, m.start())


# --------------------------------------------------------------------------- dates of birth
_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES.split())}
_ISO_DATE = re.compile(r"(?<![\w.:/-])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?![\w:/-]|\.\d)")
_DMY_DATE = re.compile(r"(?<![\w.:/-])(\d{1,2})([-/.])(\d{1,2})\2(\d{4})(?![\w:/-]|\.\d)")
_WORD_DATE = re.compile(
    r"(?<!\w)(?:(\d{1,2})(?:st|nd|rd|th)? ([A-Za-z]{3,9})\.?,? (\d{4})|"
    r"([A-Za-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4}))(?!\w)"
)
_TIME_AFTER = re.compile(r"^(?:[T ]\d{1,2}:\d{2})")


def plausible_birth(year: int, month: int, day: int, today: dt.date) -> dt.date | None:
    """The date if it exists and lies 0-120 years before ``today``, else None."""
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    return date if dt.date(today.year - 120, 1, 1) <= date <= today else None


def parse_dates(text: str, today: dt.date) -> Iterator[tuple[re.Match[str], dt.date]]:
    """Calendar dates (ISO, day-first or month-first numeric, with month names) in ``text``.

    A date followed by a time of day is a timestamp and is skipped.
    """
    for m in _ISO_DATE.finditer(text):
        if _TIME_AFTER.match(text[m.end() :]) is None:
            d = plausible_birth(int(m.group(1)), int(m.group(3)), int(m.group(4)), today)
            if d is not None:
                yield m, d
    for m in _DMY_DATE.finditer(text):
        if _TIME_AFTER.match(text[m.end() :]) is not None:
            continue
        a, b, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        d = plausible_birth(year, b, a, today) or plausible_birth(year, a, b, today)
        if d is not None:
            yield m, d
    for m in _WORD_DATE.finditer(text):
        dd, month, yyyy = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (
            m.group(5), m.group(4), m.group(6))  # fmt: skip
        number = _MONTHS.get(month[:3].lower())
        d = plausible_birth(int(yyyy), number, int(dd), today) if number else None
        if d is not None:
            yield m, d


def dobs(text: str, hinted: bool, today: dt.date | None = None) -> Iterator[str]:
    today = today or dt.date.today()
    for m, _ in parse_dates(text, today):
        if hinted or in_context(Entity.DOB, text, m.start()):
            yield m.group(0)


DATE_ROLES = frozenset({"created", "updated", "modified", "order", "ship", "shipped", "due",
                         "expiry", "expires", "issue", "issued", "start", "end", "hire",
                         "hired", "join", "joined", "visit", "admission", "event", "timestamp",
                         "time", "purchase", "payment", "transaction", "login"})  # fmt: skip
"""Column-name words of dates that are not birth dates."""


def looks_like_birth_dates(name: str, values: pd.Series[Any]) -> bool:
    """A column of pure dates whose implied ages look like people's (median 18-100 years).

    Columns named for another date role (created, order, hire, ...) are never taken as
    birth dates, and a spread of under 8 years (a recent event log) does not qualify.
    """
    today = dt.date.today()
    if name_tokens(name) & DATE_ROLES or not len(values):
        return False
    sample = values.iloc[:2000]
    shaped = sample.str.fullmatch(r"\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\s*").to_numpy()
    if shaped.mean() < 0.8:
        return False
    ages = []
    for text in sample[shaped]:
        dates = [d for _, d in parse_dates(text.strip(), today)]
        if dates:
            ages.append((today - dates[0]).days / 365.25)
    if len(ages) < 0.8 * len(sample):
        return False
    q1, median, q3 = (float(q) for q in np.percentile(ages, [25, 50, 75]))
    return 18 <= median <= 100 and q3 - q1 >= 8
