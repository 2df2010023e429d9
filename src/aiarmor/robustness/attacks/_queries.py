"""Chunked, torch-facing queries for the black-box attacks, on any target.

A white-box target answers in torch (its logits, no autograd); every other target is asked
through its NumPy boundary (:mod:`aiarmor.targets.base`), which is where its query counter
lives, and the answer comes straight back as a tensor. Large batches (a gradient estimate of
HopSkipJump asks for thousands of rows) are cut into chunks of the target's ``batch_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aiarmor.robustness.attacks.base import predict_labels
from aiarmor.targets.base import DifferentiableTarget

_CHUNK = 4096
"""Rows per query for targets that do not state a ``batch_size``."""


def _chunks(target: Any, x: torch.Tensor) -> list[torch.Tensor]:
    size = int(getattr(target, "batch_size", None) or _CHUNK)
    return list(torch.split(x, max(size, 1))) if len(x) else [x]


def query_labels(target: Any, x: torch.Tensor) -> torch.Tensor:
    """Predicted labels of ``x`` (int64, CPU), one counted query per row."""
    return torch.cat([predict_labels(target, part) for part in _chunks(target, x)])


def query_log_scores(target: Any, x: torch.Tensor) -> torch.Tensor:
    """Per-class scores on a log scale: logits (white-box) or log-probabilities.

    Differences between classes are the same for both (log-softmax shifts every logit by one
    constant), so a margin computed on either is the logit margin.
    """
    if isinstance(target, DifferentiableTarget):
        with torch.inference_mode():
            return torch.cat([target.logits(part).float().cpu() for part in _chunks(target, x)])
    parts = []
    for part in _chunks(target, x):
        proba = np.asarray(target.predict_proba(part.detach().cpu().numpy()), dtype=np.float64)
        parts.append(torch.from_numpy(proba).clamp_min(1e-300).log())
    return torch.cat(parts)


def margins(target: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Score margin of the true class over the best other one, and the mask of fooled rows.

    A row is fooled when the scores' argmax is not its label (so a tie counts as the model's
    argmax would decide it).
    """
    scores = query_log_scores(target, x)
    true = scores.gather(1, y[:, None]).squeeze(1)
    others = scores.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return (true - others).double(), scores.argmax(dim=1) != y
