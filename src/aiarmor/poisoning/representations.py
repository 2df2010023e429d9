"""Penultimate-layer representations of a PyTorch target (what poison detectors inspect)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from aiarmor.core.errors import CheckError, ConfigError


def last_linear(module: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` in the module (its input is the penultimate representation)."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise CheckError("the model has no nn.Linear output layer to read representations from")
    return linears[-1]


def penultimate(target: Any, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Inputs of the model's last linear layer for every row of ``x``, shape ``(n, d)``."""
    return penultimate_and_logits(target, x, batch_size=batch_size)[0]


def penultimate_and_logits(
    target: Any, x: np.ndarray, *, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate representations ``(n, d)`` and logits ``(n, k)`` in one forward pass."""
    if not hasattr(target, "module"):
        raise ConfigError("reading representations needs a PyTorch model")
    layer = last_linear(target.module)
    captured: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        captured.append(args[0].detach().flatten(1))

    handle = layer.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
                logits.append(target.logits(chunk))
    finally:
        handle.remove()
    feats = torch.cat(captured).cpu().numpy().astype(np.float64)
    return feats, torch.cat(logits).cpu().numpy().astype(np.float64)
