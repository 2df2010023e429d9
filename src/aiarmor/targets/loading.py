"""Resolve a model SPEC (``--model``) into a Target.

SPEC forms:

* ``path/to/file.py:factory`` or ``package.module:factory`` - imports the user's code (which
  they asked for) and calls ``factory()`` (a function or a class); the result is wrapped: a
  ``torch.nn.Module`` becomes a TorchTarget (``weights`` loaded safely into it), a fitted
  scikit-learn estimator a SklearnTarget, any other callable a CallableTarget returning
  probabilities (``n_classes`` required). An attribute that already is a module, estimator
  or Target is used as it is.
* a TorchScript archive, a torch.export ``.pt2`` archive or a skops file, told apart by
  content by the sniffer the scanner uses (see :mod:`aiarmor.modelfiles.sniff`).

Pickle-based files (raw pickles, joblib, ``torch.save`` of a whole model) are scanned with
:func:`aiarmor.modelfiles.engine.inspect` (what ``aiarmor scan`` runs) and refused with
UnsafeModelError on any finding; a clean file is still refused unless ``trust_pickle``
(``--trust-pickle``) is given, and is then loaded by the narrowest loader (see
:mod:`aiarmor.targets.pickle_models`). ONNX files and ``http(s)://`` endpoints are not
supported yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from aiarmor.core.errors import ConfigError, ModelLoadError, UnsafeModelError
from aiarmor.modelfiles.engine import inspect
from aiarmor.targets import artifacts, pickle_models
from aiarmor.targets._common import check_bounds, check_n_classes, one_line
from aiarmor.targets.base import Target
from aiarmor.targets.callable_target import CallableTarget
from aiarmor.targets.formats import (
    ModelFormat,
    Sniffed,
    is_torch_legacy,
    not_weights,
    sniff_model_file,
    weights_problem,
)
from aiarmor.targets.sklearn_target import sklearn_target
from aiarmor.targets.torch_target import TorchTarget, switch_to_eval

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_MODULE_SPEC = re.compile(rf"({_DOTTED}):({_DOTTED})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SUPPORTED = (
    "file.py:factory, package.module:factory, a TorchScript or torch.export archive, "
    "or a skops file"
)


@dataclass(frozen=True, slots=True)
class _Options:
    """The load_target options every wrapper needs."""

    weights: Path | None
    bounds: tuple[float, float] | None
    n_classes: int | None
    input_shape: tuple[int, ...] | None
    trust: tuple[str, ...]
    trust_pickle: bool = False


def load_target(
    spec: str,
    *,
    weights: str | Path | None = None,
    bounds: tuple[float, float] | None = None,
    n_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    trust_skops_types: Sequence[str] = (),
    trust_pickle: bool = False,
) -> Target:
    """The model named by ``spec`` as a Target (see the module docstring for SPEC forms).

    ``n_classes`` is needed for plain callables, and for torch models unless ``input_shape``
    (one sample's shape, e.g. ``Dataset.sample_shape``) allows a dry forward pass.
    ``trust_skops_types`` lists skops types the user vetted (``--trust-type``);
    ``trust_pickle`` admits a pickle-based file that the scanner found clean (``--trust-pickle``).
    """
    opts = _Options(
        weights=Path(weights) if weights is not None else None,
        bounds=check_bounds(bounds),
        n_classes=check_n_classes(n_classes) if n_classes is not None else None,
        input_shape=tuple(int(d) for d in input_shape) if input_shape is not None else None,
        trust=tuple(trust_skops_types),
        trust_pickle=trust_pickle,
    )
    if spec.startswith(("http://", "https://")):
        raise ModelLoadError(f"remote endpoints are not supported yet: {spec}")
    head, sep, attr = spec.rpartition(":")
    if sep and head.endswith(".py"):
        folder = Path(head).resolve().parent
        return _from_python(_import_file(Path(head)), head, attr, spec, opts, folder)
    match = _MODULE_SPEC.fullmatch(spec)
    if match and not Path(spec).exists():
        module = _import_module(match.group(1))
        return _from_python(module, match.group(1), match.group(2), spec, opts, Path.cwd())
    if spec.endswith(".py"):
        raise ModelLoadError(f"name the factory that builds the model, e.g. {spec}:build_model")
    if opts.weights is not None:
        raise ConfigError("--weights goes with a Python factory SPEC (file.py:factory)")
    return _from_file(Path(spec), opts)


def load_callable(spec: str, what: str = "function") -> Any:
    """The callable named by ``spec`` (``file.py:name`` or ``package.module:name``), not called:
    e.g. a training recipe ``train_fn(x, y, seed)`` for ``aiarmor audit --recipe``."""
    head, sep, attr = spec.rpartition(":")
    if sep and head.endswith(".py"):
        module, where = _import_file(Path(head)), head
    elif (match := _MODULE_SPEC.fullmatch(spec)) is not None:
        module, where, attr = _import_module(match.group(1)), match.group(1), match.group(2)
    else:
        raise ModelLoadError(f"{spec}: name the {what} as file.py:name or package.module:name")
    obj = _attribute(module, where, attr, spec)
    if not callable(obj):
        raise ModelLoadError(f"{spec} is {_a(type(obj).__name__)}, not a callable {what}")
    return obj


def _attribute(module: ModuleType, where: str, attr: str, spec: str) -> object:
    if not re.fullmatch(_DOTTED, attr):
        raise ModelLoadError(f"{spec}: {attr!r} is not a Python name")
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in vars(module) if not n.startswith("_"))
            raise ModelLoadError(
                f"{where} has no attribute {attr!r}; it defines: {', '.join(names[:12])}"
            )
        obj = getattr(obj, part)
    return obj


def _from_python(
    module: ModuleType, where: str, attr: str, spec: str, opts: _Options, folder: Path
) -> Target:
    """Resolve ``attr`` in ``module``, build the model (``folder`` on sys.path) and wrap it."""
    obj = _attribute(module, where, attr, spec)
    model = obj if _is_model(obj) else _call_factory(obj, spec, folder)
    return _wrap(model, spec, opts)


def _is_model(obj: object) -> bool:
    """True for an already-built model (used as is rather than called as a factory)."""
    return isinstance(obj, torch.nn.Module | Target) or (
        hasattr(obj, "predict") and not isinstance(obj, type)
    )


def _call_factory(factory: object, spec: str, folder: Path) -> object:
    """``factory()``, with any failure as a one-line ModelLoadError."""
    if not callable(factory):
        raise ModelLoadError(f"{spec} is {_a(type(factory).__name__)}, not a callable factory")
    try:
        with _on_sys_path(folder):
            return factory()
    except (Exception, SystemExit) as exc:  # arbitrary user code
        raise ModelLoadError(f"calling {spec}() failed: {one_line(exc)}") from None


def _wrap(model: object, spec: str, opts: _Options) -> Target:
    """The right Target for what the factory returned."""
    if isinstance(model, torch.nn.Module):
        if opts.weights is not None:
            artifacts.apply_state_dict(model, _load_weights(opts.weights), opts.weights)
        return _torch_target(model, spec, opts, opts.n_classes)
    if opts.weights is not None:
        raise ConfigError(f"--weights is for torch modules, but {spec} gave {_a(_kind(model))}")
    if isinstance(model, Target):
        if opts.bounds is not None:
            model.bounds = opts.bounds
        return model
    if hasattr(model, "predict"):
        return sklearn_target(model, bounds=opts.bounds, name=spec)
    if callable(model):
        if opts.n_classes is None:
            raise ConfigError(f"{spec} gave a plain callable; say how many classes it scores")
        return CallableTarget(model, n_classes=opts.n_classes, bounds=opts.bounds, name=spec)
    raise ModelLoadError(
        f"{spec} gave {_a(_kind(model))}, not a torch module, scikit-learn estimator or callable"
    )


def _load_weights(path: Path) -> Mapping[str, torch.Tensor]:
    """A state_dict from ``--weights``, after its structure was checked (one-line errors).

    Garbage (empty, text, random bytes, a truncated archive, a bad safetensors header) is
    named for what it is not before any loader sees it: torch's own errors on such bytes are
    ``IndexError: pop from empty list`` and the like.
    """
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {_shown(path)}")
    try:
        found = sniff_model_file(path)
        problem = weights_problem(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot read weights {_shown(path)}: {exc.strerror or exc}") from None
    if found.format is ModelFormat.SUSPICIOUS:
        raise UnsafeModelError(f"refusing to load weights {_shown(path)}: {found.detail}")
    if problem is not None:
        raise ModelLoadError(f"{_shown(path)} {problem}")
    raw_pickle = found.format is ModelFormat.PICKLE and not found.root
    if raw_pickle:
        _refuse_unsafe_raw_pickle(path)
        if not is_torch_legacy(path):  # torch.load reads only its own magic-number layout
            raise ModelLoadError(f"{_shown(path)} {not_weights(path, found)}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols in hostile files
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return artifacts.load_state_dict(path)
    except UnsafeModelError:
        raise
    except ModelLoadError:
        if not raw_pickle:
            raise
        raise ModelLoadError(f"{_shown(path)} {not_weights(path, found)}") from None


def _refuse_unsafe_raw_pickle(path: Path) -> None:
    """UnsafeModelError naming the first callable aiarmor's opcode walker finds in a raw pickle
    (it never unpickles); garbage that merely fails to parse is left to the caller."""
    for finding in inspect(path).findings:
        name = finding.evidence.get("callable")
        if name is not None:
            raise UnsafeModelError(
                f"refusing to load weights {_shown(path)}: it holds more than tensors "
                f"(global {_shown(Path(str(name)))}), and loading it would run arbitrary code"
            )


def _shown(path: Path) -> str:
    """A user-supplied path for a one-line message: control characters escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(path))


def _a(noun: str) -> str:
    """``a list`` / ``an int``: the noun with its indefinite article."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _kind(obj: object) -> str:
    """The type name of ``obj`` for messages."""
    return type(obj).__name__


def _torch_target(
    module: torch.nn.Module,
    name: str,
    opts: _Options,
    n_classes: int | None,
    fixed_batch: int | None = None,
) -> TorchTarget:
    """A TorchTarget, put in eval mode quietly (loading it is ours to do)."""
    switch_to_eval(module)
    return TorchTarget(
        module,
        n_classes=n_classes,
        input_shape=opts.input_shape,
        bounds=opts.bounds,
        fixed_batch=fixed_batch,
        name=name,
    )


def _from_file(path: Path, opts: _Options) -> Target:
    """A model artifact file, by its detected format."""
    if not path.is_file():
        missing = not path.exists()
        raise ModelLoadError(f"model file not found: {path}" if missing else f"{path}: not a file")
    try:
        found = sniff_model_file(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if found.format is ModelFormat.TORCHSCRIPT:
        return _torch_target(artifacts.load_torchscript(path), path.name, opts, opts.n_classes)
    if found.format is ModelFormat.TORCH_EXPORT:
        exported = artifacts.load_exported(path, found.root)
        n_classes = opts.n_classes or exported.n_classes
        return _torch_target(exported.module, path.name, opts, n_classes, exported.fixed_batch)
    if found.format is ModelFormat.SKOPS:
        estimator = artifacts.load_skops(path, opts.trust)
        return sklearn_target(estimator, bounds=opts.bounds, name=path.name)
    if found.format is ModelFormat.PICKLE:
        return _from_pickle(path, opts)
    raise _refusal(path, found)


def _from_pickle(path: Path, opts: _Options) -> Target:
    """A scan-clean, explicitly trusted pickle-based model (else UnsafeModelError)."""
    model, provenance = pickle_models.load_pickle_model(path, trust=opts.trust_pickle)
    if not (isinstance(model, torch.nn.Module) or hasattr(model, "predict")):
        raise ModelLoadError(
            f"{path} holds {_a(_kind(model))}, not a torch module or scikit-learn estimator "
            "(a state_dict goes with --model file.py:factory --weights)"
        )
    target = _wrap(model, path.name, opts)
    pickle_models.remember(target, provenance)
    return target


def _refusal(path: Path, found: Sniffed) -> ModelLoadError:
    """The error for a file aiarmor will not (or cannot yet) load."""
    if found.format is ModelFormat.SUSPICIOUS:
        return UnsafeModelError(f"refusing to load {path}: {found.detail}")
    if found.format is ModelFormat.ONNX or (
        found.format is ModelFormat.UNKNOWN and path.suffix.lower() == ".onnx"
    ):  # refused either way; the name only picks the message
        return ModelLoadError(f"{path}: ONNX models are not supported yet")
    if found.format is ModelFormat.SAFETENSORS:
        return ModelLoadError(
            f"{path} holds weights only; give the architecture too: "
            f"--model file.py:factory --weights {path}"
        )
    if found.format is ModelFormat.NUMPY:
        return ModelLoadError(f"{path} holds NumPy arrays (data), not a model")
    return ModelLoadError(f"cannot tell what model {path} is ({found.detail}); use {_SUPPORTED}")


def _import_file(path: Path) -> ModuleType:
    """Import a user's .py file under a unique module name (running their code)."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"aiarmor_user_{stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path.name}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_sys_path(path.resolve().parent):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # arbitrary user code
        sys.modules.pop(name, None)
        raise ModelLoadError(f"cannot import {path.name}: {one_line(exc)}") from None
    return module


def _import_module(name: str) -> ModuleType:
    """Import ``package.module`` (the working directory is searched too)."""
    try:
        with _on_sys_path(Path.cwd()):
            return importlib.import_module(name)
    except (Exception, SystemExit) as exc:  # arbitrary user code
        raise ModelLoadError(f"cannot import {name}: {one_line(exc)}") from None


@contextmanager
def _on_sys_path(folder: Path | None) -> Iterator[None]:
    """Temporarily put ``folder`` first on sys.path, so a model file can import neighbours."""
    entry = str(folder) if folder is not None else None
    added = entry is not None and entry not in sys.path
    if added and entry is not None:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)
