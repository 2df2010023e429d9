"""Personal identifiers in training and test data: :func:`scan_pii` and the ``privacy.pii`` check.

Columns are scanned vectorised: each column is reduced to its distinct values (after sampling
at most ``max_rows`` rows, seeded), a cheap prefilter per entity type runs over those values
with pandas' string methods, and only the values it lets through go to the validating
recognisers of :mod:`aiarmor.privacy.pii_patterns`. Counts are per column and entity type;
examples are masked (``j***@e***.com``, ``**** **** **** 1234``): no full value ever leaves
this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.privacy.pii_patterns import (
    CONTEXT,
    IBAN_SHAPE,
    Entity,
    cards,
    column_hints,
    emails,
    ibans,
    ips,
    is_version_column,
    ninos,
    ssns,
)
from aiarmor.privacy.pii_phones_dates import dobs, looks_like_birth_dates, phones

DEFAULT_MAX_ROWS = 100_000
"""Rows scanned per column by default; a longer column is sampled (seeded) down to this."""

MAX_CELL_CHARS = 20_000
"""Only the first this many characters of a long text cell are scanned."""

MAX_EXAMPLES = 3
"""Masked examples kept per column and entity type."""

ORDER: tuple[Entity, ...] = (
    Entity.EMAIL, Entity.IBAN, Entity.CARD, Entity.SSN, Entity.NINO, Entity.IP, Entity.PHONE,
    Entity.DOB,
)  # fmt: skip
"""Recognisers run in this order; a match hides its characters from the later ones, so the
digits inside an IBAN are never also counted as a card or phone number."""


Finder = Callable[[str, bool], Iterator[str]]


@dataclass(frozen=True, slots=True)
class Recogniser:
    """How one entity type is found in a text."""

    entity: Entity
    """What it finds."""
    prefilter: re.Pattern[str]
    """A cheap pattern every text holding the entity matches (run vectorised over a column's
    distinct values first, so it must also be valid in RE2, the engine of Arrow strings)."""
    find: Finder
    """``find(text, hinted)`` yields the validated matches; ``hinted`` is the column context."""


RECOGNISERS: dict[Entity, Recogniser] = {
    r.entity: r
    for r in (
        Recogniser(Entity.EMAIL, re.compile(r"[\w.%+-]@[A-Za-z0-9-]+\."), emails),
        Recogniser(Entity.CARD, re.compile(r"\d(?:[ -]?\d){12}"), cards),
        Recogniser(Entity.IBAN, re.compile(r"[A-Z]{2}\d\d ?[A-Z0-9]{4}"), ibans),
        Recogniser(Entity.SSN, re.compile(r"\d{3}[- ]?\d\d[- ]?\d{4}"), ssns),
        Recogniser(Entity.NINO, re.compile(r"[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D]"), ninos),
        Recogniser(Entity.IP, re.compile(r"\d\.\d+\.\d+\.\d|[0-9A-Fa-f]:[0-9A-Fa-f:]*:"), ips),
        Recogniser(Entity.PHONE, re.compile(r"\d(?:[ ().-]{0,2}\d){6}"), phones),
        Recogniser(Entity.DOB, re.compile(r"\d{4}"), dobs),
    )
}
"""Every recogniser, by entity."""


def find_entities(
    text: str, hints: Iterable[Entity] = (), entities: Iterable[Entity] = ORDER
) -> dict[Entity, list[str]]:
    """Every validated identifier in ``text``, by entity.

    ``hints`` are the entities the column's name announces (weak formats then count without
    a keyword). Recognisers run in :data:`ORDER` and each match is hidden from the later ones.
    """
    hinted, wanted = set(hints), set(entities)
    out: dict[Entity, list[str]] = {}
    for entity in ORDER:
        if entity not in wanted:
            continue
        matches = list(RECOGNISERS[entity].find(text, entity in hinted))
        if matches:
            out[entity] = matches
            for m in matches:
                text = text.replace(m, "#" * len(m))
        if entity is Entity.IBAN:  # an account reference, valid or not, hides its digits
            text = IBAN_SHAPE.sub(lambda m: "#" * len(m.group(0)), text)
    return out


def column_profile(name: str) -> tuple[frozenset[Entity], frozenset[Entity]]:
    """What a column's name says: (entities it announces, entities it rules out).

    A ``version``/``build`` column rules out IP addresses (``1.2.3.4`` is a version there).
    """
    ruled_out = frozenset({Entity.IP}) if is_version_column(name) else frozenset()
    return column_hints(name), ruled_out


def scan_text(column: str, text: str) -> dict[Entity, list[str]]:
    """The identifiers in one cell of column ``column`` (the column name gives context)."""
    hints, ruled_out = column_profile(column)
    return find_entities(text, hints, [e for e in ORDER if e not in ruled_out])


@dataclass(frozen=True, slots=True)
class ColumnPii:
    """One entity type found in one column."""

    column: str
    """Column name."""
    entity: Entity
    """What was found."""
    rows: int
    """Scanned rows whose value holds at least one such identifier."""
    distinct: int
    """Distinct identifiers found."""
    rows_scanned: int
    """Rows of this column that were scanned (non-missing, after sampling)."""
    examples: tuple[str, ...]
    """Up to :data:`MAX_EXAMPLES` masked examples; never a full value."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (only masked examples)."""
        return {"column": self.column, "entity": self.entity.value, "rows": self.rows,
                "distinct": self.distinct, "rows_scanned": self.rows_scanned,
                "masked_examples": list(self.examples)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PiiReport:
    """What :func:`scan_pii` found in one table."""

    hits: tuple[ColumnPii, ...]
    """Findings per column and entity type, in column order."""
    columns_scanned: tuple[str, ...]
    """The columns that were scanned (text columns, and numeric ones named like identifiers)."""
    rows: int
    """Rows of the table."""
    rows_scanned: int
    """Rows scanned per column (``rows`` unless sampled)."""

    @property
    def sampled(self) -> bool:
        """True when columns were sampled rather than scanned in full."""
        return self.rows_scanned < self.rows

    def rows_by_entity(self) -> dict[Entity, int]:
        """Rows holding each entity type, summed over columns."""
        out: dict[Entity, int] = {}
        for hit in self.hits:
            out[hit.entity] = out.get(hit.entity, 0) + hit.rows
        return out


def mask(entity: Entity, value: str) -> str:
    """A masked form of ``value`` that shows its format but not the identifier."""
    if entity is Entity.EMAIL:
        local, _, domain = value.partition("@")
        labels = domain.split(".")
        return f"{_first(local)}***@{_first(labels[0])}***.{labels[-1]}"
    if entity is Entity.IP:
        sep = ":" if ":" in value else "."
        head = value.split(sep)[0][:4] or sep
        return head + (":*:*" if sep == ":" else ".*.*.*")
    keep = {Entity.CARD: (0, 4), Entity.IBAN: (2, 2), Entity.SSN: (0, 2), Entity.NINO: (2, 0),
            Entity.PHONE: (0, 2)}.get(entity, (0, 0))  # fmt: skip
    return _keep(value, *keep)


def _first(part: str) -> str:
    """The first character of a longer part (a one- or two-letter part shows nothing)."""
    return part[:1] if len(part) > 2 else ""


def _keep(value: str, head: int, tail: int) -> str:
    """Letters and digits replaced by ``*`` except the first ``head`` and last ``tail``."""
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    shown = set(positions[:head]) | set(positions[len(positions) - tail :] if tail else [])
    return "".join(ch if i in shown or not ch.isalnum() else "*" for i, ch in enumerate(value))


def parse_entities(names: Iterable[str] | None) -> tuple[Entity, ...]:
    """Entity types from names (None: all); ConfigError naming an unknown one."""
    if names is None:
        return ORDER
    wanted = set()
    for name in names:
        try:
            wanted.add(Entity(str(name).lower()))
        except ValueError:
            known = ", ".join(e.value for e in ORDER)
            raise ConfigError(f"unknown PII entity type {name!r} (known: {known})") from None
    return tuple(e for e in ORDER if e in wanted)


def scan_pii(
    data: pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray],
    *,
    entities: Iterable[str] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> PiiReport:
    """Scan the text columns of a table (and numeric columns named like identifiers) for PII.

    ``data`` is a DataFrame or a mapping of column name to values. Columns longer than
    ``max_rows`` are sampled with ``seed``.
    """
    if max_rows < 1:
        raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
    columns = scannable_columns(data)
    wanted = parse_entities(entities)
    rows = max((len(s) for s in columns.values()), default=0)
    rng = np.random.default_rng(seed)
    hits: list[ColumnPii] = []
    for name, series in columns.items():
        if len(series) > max_rows:
            series = series.iloc[np.sort(rng.choice(len(series), max_rows, replace=False))]
        hits.extend(scan_column(name, series, wanted))
    return PiiReport(tuple(hits), tuple(columns), rows, min(rows, max_rows))


def scannable_columns(
    data: pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray],
) -> dict[str, pd.Series[Any]]:
    """The columns worth scanning, as string series without missing values.

    Text and categorical columns always; integer columns only when their name says they hold
    card, SSN or phone numbers; datetime columns of pure dates (no time of day) for birth
    dates. Other numeric columns cannot hold the identifiers and are left out.
    """
    if isinstance(data, pd.DataFrame):
        items = [(str(c), data.iloc[:, i]) for i, c in enumerate(data.columns)]
    elif isinstance(data, Mapping):
        items = [(str(k), pd.Series(np.asarray(v) if np.ndim(v) else [v])) for k, v in data.items()]
    else:
        raise DataError(
            f"scan_pii needs a DataFrame or a mapping of columns, got {type(data).__name__}"
        )
    out = {}
    for name, series in items:
        text = _as_text(name, series)
        if text is not None and len(text):
            out[name] = text
    return out


def _as_text(name: str, series: pd.Series[Any]) -> pd.Series[Any] | None:
    dtype = series.dtype
    series = series.dropna()
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = pd.to_datetime(series)
        if (stamps != stamps.dt.normalize()).any():
            return None  # timestamps, not dates of birth
        return stamps.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_numeric_dtype(dtype):
        if not column_hints(name) & {Entity.CARD, Entity.SSN, Entity.PHONE, Entity.NINO}:
            return None
        values = series.to_numpy()
        if values.dtype.kind == "f":
            if not np.isfinite(values).all() or (values != np.round(values)).any():
                return None
            values = values.astype(np.int64)
        return pd.Series(values.astype(str), index=series.index)
    return series.astype(str)


def scan_column(name: str, series: pd.Series[Any], entities: Sequence[Entity]) -> list[ColumnPii]:
    """The entity types found in one column of strings (no missing values)."""
    counts = series.str.slice(0, MAX_CELL_CHARS).value_counts(sort=False)
    values = pd.Series(counts.index.astype(str))
    announced, ruled_out = column_profile(name)
    hints = set(announced)
    if Entity.DOB in entities and Entity.DOB not in hints and looks_like_birth_dates(name, values):
        hints.add(Entity.DOB)
    entities = [e for e in entities if e not in ruled_out]
    live = {e: values.str.contains(RECOGNISERS[e].prefilter, regex=True).to_numpy()
            for e in entities}  # fmt: skip
    if Entity.DOB in live and Entity.DOB not in hints:  # birth dates need a keyword here
        keyword = values.str.contains(CONTEXT[Entity.DOB].pattern, case=False).to_numpy()
        live[Entity.DOB] = live[Entity.DOB] & keyword
    found: dict[Entity, dict[int, list[str]]] = {e: {} for e in entities}
    any_live = np.logical_or.reduce(list(live.values())) if live else np.zeros(0, bool)
    texts = values.tolist()
    for i in np.flatnonzero(any_live).tolist():
        active = [e for e, on in live.items() if on[i]]
        for entity, matches in find_entities(texts[i], hints, active).items():
            found[entity][i] = matches
    weights = counts.to_numpy()
    return [_column_hit(name, e, found[e], weights, len(series)) for e in entities if found[e]]


def _column_hit(
    name: str, entity: Entity, found: Mapping[int, list[str]], weights: np.ndarray, scanned: int
) -> ColumnPii:
    idx = sorted(found)
    distinct = {v for i in idx for v in found[i]}
    examples: list[str] = []
    for i in idx[:500]:  # the first distinct masked forms; equal masks are common
        masked = mask(entity, found[i][0])
        if masked not in examples:
            examples.append(masked)
        if len(examples) == MAX_EXAMPLES:
            break
    rows = int(weights[idx].sum())
    return ColumnPii(name, entity, rows, len(distinct), scanned, tuple(examples))
