"""The ``privacy.pii`` check: personal identifiers in the training and held-out tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from aiarmor.core.capability import DatasetLike
from aiarmor.core.findings import CheckOutcome, Finding, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.privacy.pii import (
    DEFAULT_MAX_ROWS,
    ORDER,
    ColumnPii,
    parse_entities,
    scan_pii,
    scannable_columns,
)
from aiarmor.privacy.pii_patterns import Entity

_SEVERITY = {
    Entity.CARD: Severity.HIGH, Entity.SSN: Severity.HIGH, Entity.IBAN: Severity.HIGH,
    Entity.NINO: Severity.HIGH, Entity.EMAIL: Severity.MEDIUM, Entity.PHONE: Severity.MEDIUM,
    Entity.DOB: Severity.MEDIUM, Entity.IP: Severity.LOW,
}  # fmt: skip
"""Severity of a finding by entity type: financial and national identifiers are high."""

_NAMES = {
    Entity.EMAIL: "E-mail addresses", Entity.PHONE: "Phone numbers",
    Entity.CARD: "Payment card numbers", Entity.IBAN: "IBANs (bank accounts)",
    Entity.SSN: "US Social Security numbers", Entity.NINO: "UK National Insurance numbers",
    Entity.IP: "Public IP addresses", Entity.DOB: "Dates of birth",
}  # fmt: skip

_FIX = {
    Entity.CARD: "Remove card numbers from the training data (PCI DSS forbids storing them "
    "outside the cardholder-data environment); if a feature is needed, use a tokenized or "
    "hashed value.",
    Entity.IBAN: "Remove account numbers or replace them with salted hashes or tokens.",
    Entity.SSN: "Remove national identifiers or replace them with salted hashes or tokens.",
    Entity.NINO: "Remove national identifiers or replace them with salted hashes or tokens.",
    Entity.EMAIL: "Drop the column or pseudonymize it (keyed hash); a model rarely needs the "
    "address itself.",
    Entity.PHONE: "Drop the column or pseudonymize it (keyed hash); keep only coarse features "
    "such as the country code if needed.",
    Entity.DOB: "Replace birth dates with coarse age bands; exact dates are quasi-identifiers.",
    Entity.IP: "Truncate addresses (e.g. to /24 or /48) or drop them; keep only derived, "
    "coarse features such as the country.",
}
_ROW_CAP = {Budget.QUICK: 20_000, Budget.STANDARD: DEFAULT_MAX_ROWS, Budget.THOROUGH: 1_000_000}
"""Rows scanned per column by budget when the policy does not set ``max_rows``."""


_TABLE = {"train": "training", "data": "held-out"}


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def dataset_columns(ds: DatasetLike) -> dict[str, Any]:
    """The raw columns of a Dataset: its table, else its text-valued sensitive attributes."""
    table = ds.table
    if table is not None:
        return {str(c): table.iloc[:, i] for i, c in enumerate(table.columns)}
    return {k: v for k, v in ds.sensitive.items() if np.asarray(v).dtype.kind in "USO"}


@register
class PiiCheck(Check):
    """PII in the data: e-mail, phone, card, IBAN, SSN, NINO, IP and birth-date values.

    What it detects:
        Personal identifiers in the text columns of the training and held-out tables (and in
        numeric columns named like card, SSN or phone numbers): e-mail addresses, phone
        numbers (E.164 with an assigned country code and valid length, NANP, and national
        formats in context), payment card numbers (Luhn and issuer ranges), IBANs (country
        length and mod-97), US SSNs (area/group/serial rules), UK National Insurance numbers,
        public IP addresses (``ipaddress``; private and documentation ranges are not personal)
        and dates of birth (real dates 0-120 years ago in birth-date columns or after "born",
        "DOB"). Weak formats (bare digit strings) count only in context: a column name or a
        keyword before the value. Counts per column and type, with masked examples only.

    Why it matters:
        Models memorize rare training records: identifiers in the training data can be
        extracted from the model (model inversion, membership inference, training-data
        extraction) and make every downstream copy of the data and model regulated personal
        data (GDPR, CCPA, PCI DSS, HIPAA).

    Standards: OWASP ML03 (Model Inversion), ML04 (Membership Inference), MITRE ATLAS
    AML.T0024.001 (Invert AI Model), NIST AI RMF MEASURE 2.10 (privacy risk examined) and
    MAP 4.1 (legal risks of components, including data, are mapped).

    References: ISO/IEC 7812 (card numbers, Luhn); ISO 13616 and ISO 7064 (IBAN, mod-97);
    SSA SSN randomization rules (2011); ITU-T E.164; Carlini et al., "Extracting Training Data
    from Large Language Models", USENIX Security 2021.
    """

    id = "privacy.pii"
    title = "Personal identifiers in the data"
    summary = "E-mail, phone, card, IBAN, SSN, NINO, IP and birth-date values in data columns."
    standards = ("OWASP-ML:ML03", "OWASP-ML:ML04", "ATLAS:AML.T0024.001",
                 "NIST-AI-RMF:MEASURE-2.10", "NIST-AI-RMF:MAP-4.1")  # fmt: skip
    params = (
        Param("entities", list, None, "Entity types to look for (default: all): "
              + ", ".join(e.value for e in ORDER) + ".", item=str,
              choices=tuple(e.value for e in ORDER)),
        Param("min_count", int, 1, "Rows a column must hold of a type for a finding.", min=1),
        Param("max_rows", int, None, "Rows scanned per column; longer columns are sampled "
              "(default by budget: 20k quick, 100k standard, 1M thorough).", min=1),
    )  # fmt: skip
    metrics = ("columns_scanned", "rows_scanned", "cells_scanned", "columns_with_pii", "rows.*")

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs a table with text columns (or text-valued sensitive attributes)."""
        for ds in (ctx.data, ctx.train):
            if ds is not None and scannable_columns(dataset_columns(ds)):
                return None
        return ("no text columns to scan: the data are numeric arrays (images or encoded "
                "features) without the original table")  # fmt: skip

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Scan the training and held-out tables and turn the hits into findings."""
        entities = parse_entities(ctx.params["entities"])
        cap = ctx.params["max_rows"] or _ROW_CAP[ctx.budget]
        hits: list[tuple[str, ColumnPii]] = []
        metrics = {"columns_scanned": 0.0, "rows_scanned": 0.0, "cells_scanned": 0.0}
        sets = [(w, d) for w, d in (("train", ctx.train), ("data", ctx.data)) if d is not None]
        for n, (which, ds) in enumerate(sets):
            ctx.report(n, 2, f"scanning {which}")
            rep = scan_pii(dataset_columns(ds), entities=entities, max_rows=int(cap),
                           seed=int(ctx.rng().integers(2**31)))  # fmt: skip
            hits += [(which, h) for h in rep.hits]
            metrics["columns_scanned"] += len(rep.columns_scanned)
            metrics["rows_scanned"] += rep.rows_scanned
            metrics["cells_scanned"] += rep.rows_scanned * len(rep.columns_scanned)
        metrics["columns_with_pii"] = float(len({(w, h.column) for w, h in hits}))
        for e in entities:
            metrics[f"rows.{e.value}"] = float(sum(h.rows for _, h in hits if h.entity is e))
        findings = [self._finding(e, [(w, h) for w, h in hits if h.entity is e], ctx)
                    for e in entities]  # fmt: skip
        return CheckOutcome(metrics, tuple(f for f in findings if f is not None))

    def _finding(
        self, entity: Entity, hits: list[tuple[str, ColumnPii]], ctx: CheckContext
    ) -> Finding | None:
        hits = [(w, h) for w, h in hits if h.rows >= ctx.params["min_count"]]
        if not hits:
            return None
        rows = sum(h.rows for _, h in hits)
        tables = " and ".join(_TABLE[w] for w in dict.fromkeys(w for w, _ in hits))
        where = "; ".join(f"{_TABLE[w]} column {h.column!r}: {_rows(h.rows)} "
                          f"({h.distinct} distinct)" for w, h in hits[:10])  # fmt: skip
        return self.finding(
            _SEVERITY[entity],
            f"{_NAMES[entity]} in {len(hits)} column(s) of the {tables} data ({_rows(rows)})",
            f"{_NAMES[entity]} found in the {where}. Models can memorize and leak such "
            "identifiers, and they make the data and the model regulated personal data. "
            "Evidence shows masked examples only.",
            _FIX[entity],
            evidence={"entity": entity.value,
                      "columns": [{"dataset": w} | h.to_dict() for w, h in hits]},
        )  # fmt: skip
