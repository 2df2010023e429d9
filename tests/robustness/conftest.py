"""Models shared by the robustness tests: defences that mask gradients."""

from __future__ import annotations

import torch


class Quantized(torch.nn.Module):
    """Rounds its input to a 0.5 grid: a classic gradient-masking defence (the gradient of
    rounding is zero everywhere)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 2) / 2)


class Noisy(torch.nn.Module):
    """A randomized defence: Gaussian noise on the input at inference time."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + 0.05 * torch.randn_like(x))
