"""The ``data.duplicates`` check: duplicated samples and train/test leakage."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from aiarmor.core.capability import DatasetLike
from aiarmor.core.findings import CheckOutcome, Finding, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register

_NEAR_ROWS = {Budget.QUICK: 2000, Budget.STANDARD: 20_000, Budget.THOROUGH: 200_000}
"""Held-out rows compared for near duplicates per budget (exact matching covers all rows)."""


def exact_groups(x: np.ndarray) -> np.ndarray:
    """A group id per row: rows with identical feature values share an id."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    _, inverse = np.unique(flat, axis=0, return_inverse=True)
    groups: np.ndarray = inverse.reshape(-1)
    return groups


def conflicting_groups(groups: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Row indices of each duplicate group whose members carry different labels."""
    order = np.lexsort((y, groups))
    g, labels = groups[order], y[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out = []
    for s, e in zip(starts, np.r_[starts[1:], len(g)], strict=True):
        if e - s > 1 and labels[s] != labels[e - 1]:
            out.append(np.sort(order[s:e]))
    return out


def near_matches(train: np.ndarray, test: np.ndarray, *, tolerance: float) -> np.ndarray:
    """Per test row: whether a training row lies within ``tolerance`` x the typical spacing.

    The typical spacing is the median distance from a training row to its nearest other
    training row, so the tolerance is relative to the data's own scale.
    """
    a, b = train.reshape(len(train), -1), test.reshape(len(test), -1)
    nn = NearestNeighbors(n_neighbors=2).fit(a)
    spacing = float(np.median(nn.kneighbors(a[: min(len(a), 2000)])[0][:, 1]))
    dist = nn.kneighbors(b, n_neighbors=1)[0][:, 0]
    matched: np.ndarray = dist <= tolerance * max(spacing, 1e-12)
    return matched


@register
class DuplicatesCheck(Check):
    """Duplicates and leakage: the same sample twice, and held-out samples seen in training.

    What it detects:
        Exact duplicate samples in the training data (or the data given, without
        ``--train``), duplicates that carry different labels, and held-out samples that are
        exact or near copies of training samples (nearest-neighbour distance below
        ``near_tolerance`` times the training set's median nearest-neighbour spacing).

    Why it matters:
        Leakage inflates every held-out metric (accuracy, robustness) and corrupts privacy
        measurements that assume members and non-members are distinct. Conflicting duplicate
        labels are label noise or a label-flip attack in plain sight; heavy duplication lets a
        few records dominate training and is a common vehicle for data poisoning.

    Standards: MITRE ATLAS AML.T0020 (Poison Training Data), OWASP ML02 (Data Poisoning
    Attack), NIST AI RMF MEASURE 2.5 (valid and reliable).
    """

    id = "data.duplicates"
    title = "Duplicates and train/test leakage"
    summary = "Duplicate samples, duplicates with conflicting labels, and test samples in train."
    standards = ("ATLAS:AML.T0020", "OWASP-ML:ML02", "NIST-AI-RMF:MEASURE-2.5")
    params = (
        Param("max_duplicate_rate", float, 0.05, "Duplicate rate above which a low finding.",
              min=0.0, max=1.0),
        Param("near_tolerance", float, 0.05,
              "Near-duplicate radius as a fraction of the median nearest-neighbour spacing.",
              min=0.0, max=1.0),
    )  # fmt: skip
    metrics = (
        "n_rows", "duplicate_rows", "duplicate_rate", "conflicting_label_groups",
        "test_in_train_exact", "test_in_train_near", "leakage_rate",
    )  # fmt: skip

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Group exact duplicates, look for label conflicts, then for held-out leakage."""
        base: DatasetLike = ctx.train if ctx.train is not None else ctx.data
        groups = exact_groups(base.x)
        dup_rows = len(groups) - len(np.unique(groups))
        conflicts = conflicting_groups(groups, base.y)
        metrics = {
            "n_rows": float(len(base)),
            "duplicate_rows": float(dup_rows),
            "duplicate_rate": dup_rows / len(base),
            "conflicting_label_groups": float(len(conflicts)),
        }
        leaks: dict[str, np.ndarray] = {}
        if ctx.train is not None:
            leaks = _leakage(ctx.train, ctx.data, ctx)
            exact, near = leaks["exact"], leaks["near"]
            metrics |= {
                "test_in_train_exact": float(exact.sum()),
                "test_in_train_near": float(near.sum()),
                "leakage_rate": float((exact | near).mean()),
            }
        return CheckOutcome(metrics, tuple(self._findings(metrics, conflicts, leaks, ctx)))

    def _findings(
        self, m: dict[str, float], conflicts: list[np.ndarray], leaks: dict[str, np.ndarray],
        ctx: CheckContext,
    ) -> list[Finding]:  # fmt: skip
        out = []
        if leaks and m["leakage_rate"] > 0:
            rows = np.flatnonzero(leaks["exact"] | leaks["near"])[:20].tolist()
            out.append(self.finding(
                Severity.MEDIUM,
                f"{m['leakage_rate']:.1%} of the held-out samples also appear in training",
                f"{int(m['test_in_train_exact'])} held-out samples are exact and "
                f"{int(m['test_in_train_near'])} near copies of training samples: held-out "
                "metrics are inflated and membership measurements are biased.",
                "Deduplicate across the split (split by source/entity, not by row) and "
                "re-run the audit.",
                evidence={"held_out_rows": rows},
            ))  # fmt: skip
        if conflicts:
            out.append(self.finding(
                Severity.MEDIUM,
                f"{len(conflicts)} groups of identical samples carry different labels",
                "Identical inputs with different labels are label noise or label flipping.",
                "Review and fix the labels of these rows (data.label_issues ranks more).",
                evidence={"groups": [g[:10].tolist() for g in conflicts[:20]]},
            ))  # fmt: skip
        if m["duplicate_rate"] > ctx.params["max_duplicate_rate"]:
            out.append(self.finding(
                Severity.LOW,
                f"{m['duplicate_rate']:.1%} of the rows are duplicates",
                "Heavily duplicated records dominate training and can carry poisoning.",
                "Deduplicate the training data, or weight duplicates deliberately.",
                evidence={"duplicate_rows": int(m["duplicate_rows"])},
            ))  # fmt: skip
        return out


def _leakage(train: DatasetLike, test: DatasetLike, ctx: CheckContext) -> dict[str, np.ndarray]:
    both = exact_groups(np.concatenate([train.x, test.x]))
    exact = np.isin(both[len(train) :], both[: len(train)])
    near = np.zeros(len(test), dtype=bool)
    cap = _NEAR_ROWS[ctx.budget]
    rows = np.arange(len(test)) if len(test) <= cap else np.sort(
        ctx.rng().choice(len(test), cap, replace=False))  # fmt: skip
    tol = float(ctx.params["near_tolerance"])
    if tol > 0:
        near[rows] = near_matches(train.x, test.x[rows], tolerance=tol)
    return {"exact": exact, "near": near & ~exact}
