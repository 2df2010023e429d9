"""Keras model configs (``.keras`` zip ``config.json``; HDF5 ``model_config`` attribute).

A ``Lambda`` layer carries Python code (marshalled bytecode, base64) that runs on load;
custom objects and serialized function references from modules outside ``keras`` import
arbitrary code.

HDF5 is read without h5py, honestly and narrowly: the superblock is checked, then the raw
bytes are searched for the JSON text of the model config. Keras stores ``model_config`` (and
``training_config``) as string attributes, and HDF5 never compresses or filters attribute
data, so that JSON appears verbatim in the file. A full-model file whose config cannot be
found or decoded is reported as unscannable (fail closed); ``"Lambda"`` / ``__lambda__``
markers outside any decoded config are reported too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.modelfiles import pickle_policy
from aiarmor.modelfiles.formats.common import ScanContext, safe_name
from aiarmor.modelfiles.registry import FormatAnalyser, leaf

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
"""HDF5 superblock signature."""
_SAFE_MODULES = ("keras", "tf_keras", "tensorflow.keras")
_BUILTIN_CLASSES = {"__tuple__", "tuple", "list", "dict", "set", "frozenset", "str", "int"}
_LAMBDAS = {"Lambda", "__lambda__"}
_CLASS_KEY = b'"class_name"'
_NOT_TEXT = re.compile(rb"[^\x20-\x7e\t\r\n]")
_RAW_LAMBDA = (b'"Lambda"', b'"__lambda__"')
_SCAN_WINDOW = 8 * 1024**2
"""Longest config text searched around one ``"class_name"`` hit."""


def _layers(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object that names a class, depth first (not inside a Lambda's config)."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
            if str(node.get("class_name")) in _LAMBDAS:
                return
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value)


def _strings(node: Any) -> Iterator[str]:
    """Every string value below ``node``."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def has_marshalled_code(node: Any) -> bool:
    """True when a string below ``node`` is base64 of a marshalled code object.

    ``marshal.dumps(code)`` starts with ``c`` (0x63), or 0xE3 with the reference flag, which
    is what Keras' ``func_dump`` base64-encodes for a Lambda.
    """
    for text in _strings(node):
        if len(text) < 16:
            continue
        try:
            raw = base64.b64decode(text[:64].encode("ascii", "ignore"), validate=False)
        except (binascii.Error, ValueError):
            continue
        if raw[:1] in (b"\x63", b"\xe3"):
            return True
    return False


def check_config(ctx: ScanContext, config: Any, path: str) -> None:
    """Report Lambda layers, serialized functions and custom objects in a Keras config."""
    for obj in _layers(config):
        name, module = str(obj.get("class_name")), obj.get("module")
        if name in _LAMBDAS:
            _lambda(ctx, obj, name, path)
        elif name == "function":
            _function(ctx, obj, path)
        elif isinstance(module, str) and not _keras_module(module, name):
            _custom(ctx, name, module, path)
        elif ">" in str(obj.get("registered_name") or "") and not isinstance(module, str):
            _custom(ctx, name, str(obj.get("registered_name")), path)


def _keras_module(module: str, name: str) -> bool:
    return module.startswith(_SAFE_MODULES) or (module == "builtins" and name in _BUILTIN_CLASSES)


def _lambda(ctx: ScanContext, obj: dict[str, Any], name: str, path: str) -> None:
    code = has_marshalled_code(obj)
    ctx.add(
        "scan.keras.lambda",
        Severity.CRITICAL if code else Severity.HIGH,
        "Keras Lambda layer with marshalled code" if code else "Keras Lambda layer",
        f"Class {safe_name(name)} "
        + ("carries marshalled Python bytecode that runs when the model loads."
           if code else "runs a Python function when the model is built or called."),
        path,
        {"class_name": name, "marshalled_code": code},
    )  # fmt: skip


def _function(ctx: ScanContext, obj: dict[str, Any], path: str) -> None:
    """A serialized function reference (module + name) is imported and called on load."""
    module, target = str(obj.get("module") or ""), str(obj.get("config") or "")
    qualname = pickle_policy.normalize(module, target) if module else target
    dangerous = pickle_policy.classify(qualname) == "dangerous"
    ctx.add(
        "scan.keras.function",
        Severity.CRITICAL if dangerous else Severity.HIGH,
        "Keras config references a Python function",
        f"The config imports and calls {safe_name(qualname)} when the model loads.",
        path,
        {"function": qualname},
    )


def _custom(ctx: ScanContext, name: str, module: str, path: str) -> None:
    ctx.add(
        "scan.keras.custom_object",
        Severity.MEDIUM,
        "Custom object outside keras",
        f"Class {safe_name(name)} from {safe_name(module)} imports code on load.",
        path,
        {"class_name": name, "module": module},
    )


def scan_keras_json(ctx: ScanContext, body: bytes, path: str) -> None:
    """Parse a ``config.json`` member (a non-JSON config is a finding: fail closed)."""
    try:
        config = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        ctx.add("scan.keras.malformed", Severity.MEDIUM, "Unparsable Keras config", "", path)
        return
    check_config(ctx, config, path)


def superblock_ok(data: bytes) -> bool:
    """Signature, superblock version 0-3 and plausible offset/length sizes."""
    if len(data) < 16 or bytes(data[:8]) != HDF5_MAGIC or data[8] > 3:
        return False
    sizes = (data[13], data[14]) if data[8] < 2 else (data[9], data[10])
    return all(s in (2, 4, 8, 16) for s in sizes)


def _text_run(data: bytes, pos: int) -> tuple[int, int]:
    """The printable-ASCII run around ``pos`` (json.dumps output is ASCII), capped."""
    lo = max(0, pos - _SCAN_WINDOW)
    before = bytes(data[lo:pos])
    bad = [m.end() for m in _NOT_TEXT.finditer(before)]
    start = lo + (bad[-1] if bad else 0)
    after = _NOT_TEXT.search(bytes(data[pos : pos + _SCAN_WINDOW]))
    return start, pos + (after.start() if after else min(_SCAN_WINDOW, len(data) - pos))


def _decode_run(text: str, hit: int) -> tuple[Any, int, int] | None:
    """The outermost JSON object in ``text`` that spans ``hit``: (value, start, end)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text[: hit + 1]):
        try:
            value, end = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if end > hit:
            return value, match.start(), end
    return None


def find_configs(data: bytes) -> tuple[list[Any], list[tuple[int, int]]]:
    """Every JSON object containing ``"class_name"`` in the raw bytes, with byte spans."""
    configs: list[Any] = []
    spans: list[tuple[int, int]] = []
    pos = data.find(_CLASS_KEY)
    while pos >= 0:
        start, end = _text_run(data, pos)
        text = bytes(data[start:end]).decode("ascii")
        found = _decode_run(text, pos - start)
        if found is None:
            pos = data.find(_CLASS_KEY, pos + 1)
            continue
        value, lo, hi = found
        configs.append(value)
        spans.append((start + lo, start + hi))
        pos = data.find(_CLASS_KEY, start + hi)
    return configs, spans


def scan_hdf5(ctx: ScanContext, data: bytes, path: str) -> None:
    """Superblock check, then the model configs found as attribute text (see module doc)."""
    if not superblock_ok(data):
        ctx.entry(path, "hdf5", data, {})
        _unscannable(ctx, path, "the HDF5 superblock is not one this reader understands")
        return
    configs, spans = find_configs(data)
    full_model = data.find(b"model_config") >= 0
    ctx.entry(path, "hdf5", data, {"model_configs": len(configs), "full_model": full_model})
    for config in configs:
        check_config(ctx, config, path)
    if full_model and not configs:
        _unscannable(ctx, path, "it names a model_config whose JSON could not be decoded")
    for marker, offset in _raw_markers(data):
        if not any(lo <= offset < hi for lo, hi in spans):
            ctx.add(
                "scan.keras.lambda",
                Severity.HIGH,
                "Keras Lambda marker outside any readable config",
                f"{marker} appears at byte {offset} outside a decodable model config; "
                "the layer's code could not be inspected (fail closed).",
                path,
                {"offset": offset},
            )


def _raw_markers(data: bytes) -> Iterator[tuple[str, int]]:
    """Offsets of the quoted Lambda class names anywhere in the file."""
    for marker in _RAW_LAMBDA:
        pos = data.find(marker)
        while pos >= 0:
            yield marker.decode(), pos
            pos = data.find(marker, pos + 1)


def _unscannable(ctx: ScanContext, path: str, why: str) -> None:
    ctx.add(
        "scan.hdf5.unscannable",
        Severity.MEDIUM,
        "HDF5 model could not be inspected",
        f"The file cannot be scanned: {why}. Fail closed: treat it as unvetted.",
        path,
    )


HDF5 = FormatAnalyser("hdf5", lambda head, _data: head.startswith(HDF5_MAGIC), leaf(scan_hdf5))
