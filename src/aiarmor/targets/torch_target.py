"""A PyTorch module as a white-box target (labels, scores and input gradients)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from aiarmor.core.errors import ConfigError, ModelLoadError
from aiarmor.targets._common import check_bounds, check_n_classes, one_line

Stat = float | Sequence[float] | np.ndarray | torch.Tensor


class TorchTarget:
    """A ``torch.nn.Module`` classifier seen as a :class:`~aiarmor.targets.DifferentiableTarget`.

    On creation the module is put in eval mode (with a warning if any part of it was training)
    and its parameters are frozen (``requires_grad_(False)``), so gradients flow only to the
    input. Modules from ``torch.export`` cannot switch mode; their mode was fixed at export.

    ``mean``/``std`` (a scalar, or one value per channel / feature) normalize inside
    :meth:`logits`, so callers always work in the data's natural range. ``n_classes`` is taken
    as given; when None, it is inferred from one dry forward pass on zeros of ``input_shape``
    (the shape of one sample), which is not counted as a query. Every row sent through
    :meth:`logits` (and so :meth:`predict_proba` and :meth:`predict`) counts as one query.

    ``fixed_batch`` is for modules that accept a single batch size (e.g. a ``torch.export``
    graph exported without a dynamic batch dimension): inputs are cut into chunks of that
    size, the last one padded by repeating its final row; padding rows are not queries.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        n_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        bounds: Sequence[float] | None = None,
        mean: Stat | None = None,
        std: Stat | None = None,
        batch_size: int = 512,
        fixed_batch: int | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(f"TorchTarget needs a torch.nn.Module, got {type(module).__name__}")
        if switch_to_eval(module):
            warnings.warn(
                f"{type(module).__name__} was in training mode; aiarmor switched it to eval "
                "mode (call model.eval() before handing it over)",
                stacklevel=2,
            )
        for param in module.parameters():  # ScriptModules lack module.requires_grad_
            param.requires_grad_(False)
        self.module = module
        self.name = name or type(module).__name__
        self.bounds = check_bounds(bounds)
        self.batch_size = _positive(batch_size, "batch_size")
        self.fixed_batch = None if fixed_batch is None else _positive(fixed_batch, "fixed_batch")
        self.queries = 0
        self.device, self.dtype = _placement(module)
        self._mean = _stat_tensor(mean, "mean", self.device)
        self._std = _stat_tensor(std, "std", self.device)
        if self._std is not None and bool((self._std <= 0).any()):
            raise ConfigError("std must be positive")
        self.n_classes = (
            check_n_classes(n_classes) if n_classes is not None else self._infer(input_shape)
        )

    def __repr__(self) -> str:
        return (
            f"TorchTarget({self.name!r}, n_classes={self.n_classes}, bounds={self.bounds}, "
            f"batch_size={self.batch_size})"
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` (natural range; normalized inside), shape ``(n, n_classes)``."""
        out = self._forward(x)
        self.queries += int(x.shape[0])
        if out.ndim != 2 or out.shape[1] != self.n_classes:
            raise ValueError(
                f"{self.name} returned logits of shape {tuple(out.shape)}; "
                f"expected (n, {self.n_classes})"
            )
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (float64), computed in batches without autograd."""
        array = np.asarray(x)
        if array.dtype.kind in "biuf":
            array = array.astype(np.float32, copy=False)
        inputs = torch.from_numpy(np.ascontiguousarray(array))
        chunks = []
        with torch.inference_mode():
            for start in range(0, inputs.shape[0], self.batch_size):
                batch = inputs[start : start + self.batch_size]
                chunks.append(torch.softmax(self.logits(batch).double(), dim=1).cpu())
        if not chunks:
            return np.zeros((0, self.n_classes), dtype=np.float64)
        return torch.cat(chunks).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels: the argmax of :meth:`predict_proba`, int64."""
        labels: np.ndarray = self.predict_proba(x).argmax(axis=1).astype(np.int64)
        return labels

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The module applied to the normalized input (in fixed-size chunks if need be)."""
        x = x.to(device=self.device, dtype=self.dtype)
        if self._mean is not None:
            x = x - _broadcast(self._mean, x, "mean")
        if self._std is not None:
            x = x / _broadcast(self._std, x, "std")
        if self.fixed_batch is None:
            out: torch.Tensor = self.module(x)
            return out
        return self._forward_fixed(x, self.fixed_batch)

    def _forward_fixed(self, x: torch.Tensor, size: int) -> torch.Tensor:
        """The module applied to chunks of exactly ``size`` rows, padding the last one."""
        if x.shape[0] == 0:
            return x.new_zeros((0, self.n_classes))
        outs = []
        for start in range(0, x.shape[0], size):
            chunk = x[start : start + size]
            real = chunk.shape[0]
            if real < size:
                chunk = torch.cat([chunk, chunk[-1:].expand(size - real, *chunk.shape[1:])])
            outs.append(self.module(chunk)[:real])
        return torch.cat(outs)

    def _infer(self, input_shape: Sequence[int] | None) -> int:
        """The number of classes, from one dry forward pass on zeros of ``input_shape``."""
        if input_shape is None:
            raise ConfigError(
                f"cannot tell how many classes {self.name} predicts: "
                "pass n_classes, or input_shape for a dry forward pass"
            )
        shape = (1, *(int(d) for d in input_shape))
        try:
            with torch.inference_mode():
                out = self._forward(torch.zeros(shape))
        except Exception as exc:  # arbitrary user model code
            raise ModelLoadError(
                f"{self.name}: a dry forward pass on shape {shape} failed: {one_line(exc)}"
            ) from None
        if out.ndim != 2 or out.shape[1] < 2:
            raise ModelLoadError(
                f"{self.name}: expected logits of shape (n, n_classes) with n_classes >= 2, "
                f"got {tuple(out.shape)}"
            )
        return int(out.shape[1])


def switch_to_eval(module: torch.nn.Module) -> bool:
    """Put ``module`` in eval mode; True if any part of it was training and could switch."""
    was_training = any(m.training for m in module.modules())
    if not was_training:
        return False
    try:
        module.eval()
    except NotImplementedError:  # torch.export modules: mode fixed at export time
        return False
    return True


def _placement(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device of the module's first tensor and its floating dtype (float32 default)."""
    tensors = [*module.parameters(), *module.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    floats = [t.dtype for t in tensors if t.is_floating_point()]
    return device, floats[0] if floats else torch.float32


def _stat_tensor(value: Stat | None, what: str, device: torch.device) -> torch.Tensor | None:
    """A normalization statistic as a 0-d or 1-d float32 tensor."""
    if value is None:
        return None
    try:
        tensor = torch.as_tensor(np.asarray(value, dtype=np.float32), device=device)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number or a sequence of numbers") from None
    if tensor.ndim > 1 or not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"{what} must be finite, a scalar or one value per channel")
    return tensor


def _broadcast(stat: torch.Tensor, x: torch.Tensor, what: str) -> torch.Tensor:
    """``stat`` shaped to broadcast over axis 1 (channels or features) of ``x``."""
    if stat.ndim == 0 or stat.numel() == 1:
        return stat.reshape(())
    if x.ndim < 2 or x.shape[1] != stat.numel():
        raise ValueError(
            f"{what} has {stat.numel()} values but the input has shape {tuple(x.shape)}; "
            "give one value per channel (axis 1)"
        )
    return stat.reshape(1, -1, *([1] * (x.ndim - 2)))


def _positive(value: int, what: str) -> int:
    """``value`` if a positive int, else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value
