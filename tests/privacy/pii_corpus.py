"""A labelled synthetic corpus for the PII recognisers: positives and hard negatives.

Each case is ``(column name, cell text, expected entity types)``. Positives are generated with
valid checksums (Luhn, mod-97, SSA rules); hard negatives are the near-misses that trip naive
patterns: order numbers that pass Luhn, numbers that fail Luhn or mod-97, version strings and
OIDs that look like IPv4, private addresses, timestamps and event dates, invalid SSN areas,
unassigned calling codes, asset names like ``icon@2x.png``. Used by tests/privacy/test_pii.py
and bench/bench_pii.py. Everything is synthetic; no real person is described.
"""

from __future__ import annotations

import random

Case = tuple[str, str, frozenset[str]]

_FIRST = ["jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sofia", "kenji", "amara"]
_LAST = ["doe", "smith", "garcia", "wang", "khan", "ivanova", "martin", "rossi", "sato", "okafor"]
_DOMAINS = [
    "example.com",
    "mail.example.org",
    "corp.example.uk",
    "example.net",
    "uni.example.de",
]
_IBAN_COUNTRIES = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "BE": 16, "CH": 21}


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    """A number of ``length`` digits starting with ``prefix`` that passes Luhn."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if _luhn(body + check):
            return body + check
    raise AssertionError("unreachable")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def make_iban(country: str, rng: random.Random, *, valid: bool = True) -> str:
    """A (mod-97 valid, or deliberately invalid) IBAN, printed in groups of four."""
    bban = "".join(rng.choice("0123456789") for _ in range(_IBAN_COUNTRIES[country] - 4))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    if not valid:
        check = (check % 97) + 1
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", ""])
    tag = rng.choice(["", "", "+news"])
    return f"{rng.choice(_FIRST)}{sep}{rng.choice(_LAST)}{tag}@{rng.choice(_DOMAINS)}"


def _public_ipv4(rng: random.Random) -> str:
    first = rng.choice([8, 23, 31, 46, 62, 81, 93, 109, 151, 185, 212, 217])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _card(rng: random.Random) -> tuple[str, str]:
    """A Luhn-valid card number: (grouped form, bare digits)."""
    kind = rng.choice(["visa", "mc", "amex", "discover"])
    prefix, length = {
        "visa": ("4", 16),
        "mc": (str(rng.randint(51, 55)), 16),
        "amex": (rng.choice(["34", "37"]), 15),
        "discover": ("6011", 16),
    }[kind]
    digits = luhn_complete(prefix, length, rng)
    if length == 15:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}", digits
    sep = rng.choice([" ", "-"])
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4)), digits


_AREAS = [212, 415, 312, 617, 202, 305, 713, 206, 503, 646, 818, 404]


def _nanp(rng: random.Random) -> tuple[int, int, int]:
    """Area code, exchange (never N11) and line number of a US number."""
    return rng.choice(_AREAS), rng.randint(22, 99) * 10 + rng.randint(2, 9), rng.randint(0, 9999)


def _phone(rng: random.Random) -> str:
    n = rng.randint
    a, x, line = _nanp(rng)
    return rng.choice([
        f"+44 20 {n(7000, 7999)} {n(1000, 9999)}", f"+1 {a}-{x}-{line:04d}",
        f"+49 30 {n(10000000, 99999999)}", f"+33 1 {n(10, 99)} {n(10, 99)} {n(10, 99)} {n(10, 99)}",
        f"({a}) {x}-{line:04d}", f"{a}-{x}-{line:04d}", f"{a}.{x}.{line:04d}",
        f"+91 {n(70000, 99999)} {n(10000, 99999)}", f"0044 7700 {n(100000, 999999)}",
    ])  # fmt: skip


def _nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
        first, second = "A", "B"
    d = [f"{rng.randint(0, 99):02d}" for _ in range(3)]
    return f"{first}{second} {d[0]} {d[1]} {d[2]} {rng.choice('ABCD')}"


def _date(rng: random.Random, years: tuple[int, int]) -> tuple[int, int, int]:
    return rng.randint(*years), rng.randint(1, 12), rng.randint(1, 28)


def positives(rng: random.Random, n: int) -> list[Case]:
    """``n`` cases per entity type, in columns and in free text."""
    out: list[Case] = []
    for _ in range(n):
        e = frozenset
        grouped, bare = _card(rng)
        y, m, d = _date(rng, (1935, 2005))
        out += [
            ("email", _email(rng), e({"email"})),
            ("notes", f"Please reach me at {_email(rng)} after 5pm.", e({"email"})),
            ("contact", _phone(rng), e({"phone"})),
            ("phone", "{}{}{:04d}".format(*_nanp(rng)), e({"phone"})),
            ("notes", f"tel. 030 {rng.randint(1000000, 9999999)} (office)", e({"phone"})),
            ("payment", grouped, e({"card"})),
            ("card_number", bare, e({"card"})),
            ("notes", f"paid with visa card {luhn_complete('4', 16, rng)} yesterday", e({"card"})),
            ("account", make_iban(rng.choice(list(_IBAN_COUNTRIES)), rng), e({"iban"})),
            ("notes", "IBAN " + make_iban("DE", rng).replace(" ", ""), e({"iban"})),
            ("tax_id", _ssn(rng), e({"ssn"})),
            ("ssn", _ssn(rng).replace("-", ""), e({"ssn"})),
            ("nino", _nino(rng), e({"nino"})),
            ("nino", _nino(rng).replace(" ", ""), e({"nino"})),
            ("client_ip", _public_ipv4(rng), e({"ip"})),
            ("log", f"login from {_public_ipv4(rng)} failed", e({"ip"})),
            ("log", f"peer 2001:4860:{rng.randint(4096, 65535):x}::{rng.randint(1, 65535):x}",
             e({"ip"})),
            ("date_of_birth", f"{y:04d}-{m:02d}-{d:02d}", e({"dob"})),
            ("dob", f"{d:02d}/{m:02d}/{y:04d}", e({"dob"})),
            ("notes", f"Patient born {d} March {y}, admitted", e({"dob"})),
            ("birthdate", f"March {d}, {y}", e({"dob"})),
            ("email", _email(rng).upper(), e({"email"})),
            ("record", f"DOB {y:04d}-{m:02d}-{d:02d}; SSN {_ssn(rng)}; card {grouped}",
             e({"dob", "ssn", "card"})),
        ]  # fmt: skip
    return out


def hard_negatives(rng: random.Random, n: int) -> list[Case]:
    """``n`` near-misses per kind: none of them holds an identifier."""
    out: list[Case] = []
    for _ in range(n):
        out += [(column, text, frozenset()) for column, text in _near_misses(rng)]
    return out


def _near_misses(rng: random.Random) -> list[tuple[str, str]]:
    r, c = rng.randint, rng.choice
    grouped, bare = _card(rng)
    wrong = bare[:-1] + str((int(bare[-1]) + r(1, 9)) % 10)
    y, m, d = _date(rng, (2015, 2024))
    day = f"{y:04d}-{m:02d}-{d:02d}"
    dotted = f"{r(1, 9)}.{r(0, 9)}.{r(0, 9)}.{r(0, 9)}"
    return [
        ("order_id", luhn_complete(c("3456"), 16, rng)),
        ("notes", f"Order #{luhn_complete('4', 16, rng)} shipped"),
        ("payment", grouped[:-1] + str((int(grouped[-1]) + 1) % 10)),
        ("card_number", wrong),
        ("account", make_iban("DE", rng, valid=False)),
        ("version", dotted),
        ("notes", f"upgraded to v{r(1, 9)}.{r(0, 20)}.{r(0, 9)}.{r(0, 99)}"),
        ("notes", f"Build {dotted} released"),
        ("oid", f"1.3.6.1.4.1.{r(100, 60000)}.{r(1, 9)}"),
        ("client_ip", f"192.168.{r(0, 255)}.{r(1, 254)}"),
        ("client_ip", f"10.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}"),
        ("mac", ":".join(f"{r(0, 255):02X}" for _ in range(6))),
        ("clock", f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}"),
        ("created_at", f"{day} {r(0, 23):02d}:{r(0, 59):02d}:00"),
        ("order_date", day),
        ("notes", f"Meeting moved to {d} March {y}"),
        ("tax_id", f"{c(['000', '666', str(r(900, 999))])}-{r(1, 99):02d}-{r(1, 9999):04d}"),
        ("amount", f"{r(1, 999)},{r(100, 999)},{r(100, 999)}.{r(10, 99)}"),
        ("isbn", f"978-{r(0, 9)}-{r(10, 99)}-{r(100000, 999999)}-{r(0, 9)}"),
        ("zip", f"{r(10000, 99999)}-{r(1000, 9999)}"),
        ("sku", f"{c('ABCEGHJ')}{c('ABCEGHJ')}{r(100000, 999999)}{c('ABCD')}"),
        ("asset", f"icon-{r(1, 99)}@2x.png"),
        ("user", f"{c(_FIRST)}@localhost"),
        ("contact", f"+999 {r(100, 999)} {r(1000, 9999)}"),
        ("ref", f"{r(100, 199)}-{r(200, 999)}-{r(1000, 9999)}"),
        ("serial", f"{r(10**9, 10**10 - 1)}"),
        ("hash", f"{rng.getrandbits(128):032x}"),
        ("ts", f"{y:04d}{m:02d}{d:02d}{r(100000, 235959)}"),
        ("ts", f"{r(1_500_000_000, 1_800_000_000)}"),
        ("location", f"{rng.uniform(-90, 90):.4f}, {rng.uniform(-180, 180):.4f}"),
        ("uuid", f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}"
                 f"-a{rng.getrandbits(12):03x}-{r(10**11, 10**12 - 1)}"),
        ("tracking", f"1Z{r(100, 999)}AA1{r(10**11, 10**12 - 1)}"),
    ]  # fmt: skip


def labelled_cases(seed: int = 0, n: int = 40) -> list[Case]:
    """Positives and hard negatives, shuffled deterministically."""
    rng = random.Random(seed)
    cases = positives(rng, n) + hard_negatives(rng, n)
    rng.shuffle(cases)
    return cases
