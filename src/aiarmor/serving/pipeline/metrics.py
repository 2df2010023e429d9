"""Prometheus metrics of one gateway."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Metrics"]


class Metrics:
    """Prometheus metrics of one gateway (its own registry, so apps do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aiarmor_requests",
            "Requests by route and decision",
            ["route", "decision"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aiarmor_predict_seconds",
            "Predict pipeline latency",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.alerts = Counter(
            "aiarmor_detector_flags",
            "Requests a detector flagged",
            ["detector", "action"],
            registry=self.registry,
        )
        self.samples = Counter(
            "aiarmor_samples", "Samples predicted", ["model"], registry=self.registry
        )
        self._children: dict[tuple[str, str], Any] = {}

    def count(self, route: str, decision: str) -> None:
        """One more request on ``route`` with ``decision`` (label children cached)."""
        child = self._children.get((route, decision))
        if child is None:
            child = self._children[route, decision] = self.requests.labels(route, decision)
        child.inc()
