"""Validated recognisers of personal identifiers in text (the engine behind ``privacy.pii``).

Each recogniser finds candidates with a compiled regular expression and keeps only those that
pass the identifier's own validation rules: the Luhn checksum and issuer (IIN) ranges of card
numbers, the country length table and ISO 7064 mod-97 check of IBANs, the area/group/serial
rules of US SSNs, :mod:`ipaddress` for IP addresses, real calendar dates in a plausible range
for dates of birth, the allocated prefixes of UK National Insurance numbers, and the assigned
country calling codes and digit counts of phone numbers.

Formats that collide with ordinary numbers (a bare 16-digit number that passes Luhn, a bare
9-digit number, a bare 10-digit number, a date) count only *in context*: when the column's
name says what it holds (``card_number``, ``ssn``, ``phone``, ``date_of_birth``) or a keyword
stands just before the value in the same text ("card", "SSN", "tel", "born"). Strongly
structured formats (``4111 1111 1111 1111``, ``123-45-6789``, ``+44 20 7946 0958``, an IBAN,
an e-mail address) count anywhere.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterator


class Entity(enum.StrEnum):
    """The kinds of identifier the scanner recognises."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    SSN = "ssn"
    NINO = "nino"
    IP = "ip"
    DOB = "dob"


_CONTEXT_WINDOW = 40
"""Characters before a match searched for a context keyword."""

# keywords that put a weak-format match in context (searched lowercased before the match)
CONTEXT: dict[Entity, re.Pattern[str]] = {
    Entity.CARD: re.compile(r"card|visa|master|amex|american express|discover|\bcc\b|credit|"
                            r"debit|\bpan\b|maestro|\bjcb\b|unionpay"),
    Entity.SSN: re.compile(r"\bssn|social security|soc\.? ?sec|\bss ?#|\bss no"),
    Entity.PHONE: re.compile(r"phone|\btel\b|\btel\.|tel:|mobile|\bcell|\bfax|\bcall|whatsapp|"
                             r"\bmob\b|\bph\b|\bph\.|contact"),
    Entity.NINO: re.compile(r"\bnino\b|national insurance|\bni ?(?:no|number|#)"),
    Entity.DOB: re.compile(r"\bborn|birth|\bdob\b|d\.o\.b|\bbday|\bgeb\.?|geboren"),
}  # fmt: skip

_NAME_HINTS: dict[Entity, frozenset[str]] = {
    Entity.CARD: frozenset({"card", "cc", "ccn", "pan", "creditcard", "cardnumber", "cardno"}),
    Entity.SSN: frozenset({"ssn", "social", "socialsecurity"}),
    Entity.PHONE: frozenset({"phone", "tel", "telephone", "mobile", "cell", "fax", "msisdn",
                             "phonenumber", "cellphone"}),
    Entity.NINO: frozenset({"nino", "nin", "insurance"}),
    Entity.DOB: frozenset({"dob", "birth", "birthday", "birthdate", "born", "bday",
                           "dateofbirth", "geburtsdatum"}),
    Entity.IP: frozenset({"ip", "ipaddr", "ipaddress", "ipv4", "ipv6", "addr"}),
}  # fmt: skip

_VERSION_WORDS = frozenset({"version", "ver", "release", "build", "firmware", "sdk", "api"})


def name_tokens(column: str) -> frozenset[str]:
    """Lowercase word tokens of a column name, plus their run-together forms.

    ``"CustomerDateOfBirth"`` -> {"customer", "date", "of", "birth", "dateofbirth", ...}.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    joined = {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1)}
    return frozenset(words) | joined


def column_hints(column: str) -> frozenset[Entity]:
    """The entities a column's name says it holds (``"cc_number"`` -> {CARD})."""
    tokens = name_tokens(column)
    return frozenset(e for e, hints in _NAME_HINTS.items() if tokens & hints)


def is_version_column(column: str) -> bool:
    """True for columns named like software versions (their dotted values are not IPs)."""
    return bool(name_tokens(column) & _VERSION_WORDS)


def in_context(entity: Entity, text: str, start: int) -> bool:
    """True when a keyword of ``entity`` stands in the few characters before ``start``."""
    window = text[max(0, start - _CONTEXT_WINDOW) : start].lower()
    return CONTEXT[entity].search(window) is not None


def only_digits(text: str) -> str:
    """The digits of ``text``."""
    return re.sub(r"\D", "", text)


# --------------------------------------------------------------------------- e-mail
_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])"
)
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf"})


def emails(text: str, hinted: bool) -> Iterator[str]:
    for m in _EMAIL.finditer(text):
        local, domain = m.group(1), m.group(2)
        if ".." in local or local.endswith("."):
            continue
        if domain.rsplit(".", 1)[1].lower() in _FILE_TLDS:  # icon@2x.png
            continue
        yield m.group(0)


# --------------------------------------------------------------------------- cards
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){11,18}(?![\w.]|-\d)")
_CARD_GROUPS = frozenset({(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 5),
                          (4, 4, 4, 1)})  # fmt: skip
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d\d ?$")
"""An IBAN's country and check digits: the digits after it are an account, not a card."""


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card scheme whose IIN range and length fit ``digits``, else None."""
    n, p2, p4, p6 = len(digits), int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p4 // 10 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and (
        16 <= n <= 19
    ):
        return "discover"
    if (300 <= p4 // 10 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and 14 <= n <= 19:
        return "diners"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) and 12 <= n <= 19:
        return "maestro"
    return None


def cards(text: str, hinted: bool) -> Iterator[str]:
    for m in _CARD.finditer(text):
        raw = m.group(0)
        digits = only_digits(raw)
        if not (13 <= len(digits) <= 19) or len(set(digits)) < 2:
            continue
        if not luhn_ok(digits) or card_brand(digits) is None:
            continue
        if _IBAN_HEAD.search(text, max(0, m.start() - 5), m.start()):
            continue
        groups = tuple(len(g) for g in re.split(r"[ -]", raw))
        grouped = (
            len(groups) > 1 and groups in _CARD_GROUPS and len(set(re.findall(r"[ -]", raw))) == 1
        )
        if grouped or hinted or in_context(Entity.CARD, text, m.start()):
            yield raw


# --------------------------------------------------------------------------- IBAN
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length per country (SWIFT IBAN registry)."""

IBAN_SHAPE = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
)


def iban_ok(text: str) -> bool:
    """Country length table and ISO 7064 mod-97 check of an IBAN (spaces allowed)."""
    iban = text.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def ibans(text: str, hinted: bool) -> Iterator[str]:
    for m in IBAN_SHAPE.finditer(text):
        if iban_ok(m.group(0)):
            yield m.group(0)


# --------------------------------------------------------------------------- US SSN
_SSN = re.compile(r"(?<![\w.-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w.]|-\d)")
_SSN_NOT_ISSUED = frozenset({"078051120", "219099999", "123456789"})


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000; no known fakes."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in _SSN_NOT_ISSUED


def ssns(text: str, hinted: bool) -> Iterator[str]:
    for m in _SSN.finditer(text):
        if not ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        if m.group(2) == "-" or hinted or in_context(Entity.SSN, text, m.start()):
            yield m.group(0)


# --------------------------------------------------------------------------- UK NINO
_NINO = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])( ?)(\d{2})\2(\d{2})\2(\d{2})\2"
    r"([A-D])(?![A-Za-z0-9])"
)
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def ninos(text: str, hinted: bool) -> Iterator[str]:
    for m in _NINO.finditer(text):
        if m.group(1) in _NINO_BAD_PREFIX:
            continue
        if m.group(2) == " " or hinted or in_context(Entity.NINO, text, m.start()):
            yield m.group(0)


# --------------------------------------------------------------------------- IP addresses
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:|\d{1,3}(?:\.\d{1,3}){3})(?![\w:.])"
)
_VERSION_BEFORE = re.compile(r"(?:\bv|version|\bver|release|build|firmware)\W{0,3}$", re.I)


def _global_ip(text: str) -> bool:
    try:
        return bool(ipaddress.ip_address(text).is_global)
    except ValueError:
        return False


def ips(text: str, hinted: bool) -> Iterator[str]:
    for m in _IPV4.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        if _VERSION_BEFORE.search(before) is None and _global_ip(m.group(0)):
            yield m.group(0)
    if ":" in text:
        for m in _IPV6.finditer(text):
            if m.group(0).count(":") >= 2 and _global_ip(m.group(0)):
                yield m.group(0)
