"""Keras model configs (``.keras`` zip ``config.json``; HDF5 ``model_config`` attribute).

A ``Lambda`` layer carries Python code (marshalled bytecode, base64) that runs on load;
custom objects from modules outside ``keras`` import arbitrary code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.scanning.formats.common import ScanContext, safe_name

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
"""HDF5 superblock signature."""
_SAFE_MODULES = ("keras", "tf_keras", "tensorflow.keras", "builtins")
_CONFIG_RE = re.compile(rb'\{"class_name": ?"[^"]{1,100}"')


def _layers(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object that names a class, depth first."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value)


def check_config(ctx: ScanContext, config: Any, path: str) -> None:
    """Report Lambda layers, serialized functions and custom objects in a Keras config."""
    for obj in _layers(config):
        name, module = str(obj.get("class_name")), obj.get("module")
        if name in ("Lambda", "__lambda__", "function"):
            ctx.add(
                "scan.keras.lambda",
                Severity.HIGH,
                "Keras Lambda layer / serialized function",
                f"Class {safe_name(name)} carries Python code that runs when the model loads.",
                path,
                {"class_name": name},
            )
        elif isinstance(module, str) and not module.startswith(_SAFE_MODULES):
            ctx.add(
                "scan.keras.custom_object",
                Severity.MEDIUM,
                "Custom object outside keras",
                f"Class {safe_name(name)} from module {safe_name(module)} imports code on load.",
                path,
                {"class_name": name, "module": module},
            )


def scan_keras_json(ctx: ScanContext, body: bytes, path: str) -> None:
    """Parse a ``config.json`` member (a non-JSON config is a finding: fail closed)."""
    try:
        config = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        ctx.add("scan.keras.malformed", Severity.MEDIUM, "Unparsable Keras config", "", path)
        return
    check_config(ctx, config, path)


def scan_hdf5(ctx: ScanContext, data: bytes, path: str) -> None:
    """Signature plus a scan for JSON model configs stored as attribute strings (no h5py)."""
    configs = 0
    for match in _CONFIG_RE.finditer(data):
        try:
            config, _end = json.JSONDecoder().raw_decode(
                bytes(data[match.start() : match.start() + 4 * 1024**2]).decode("utf-8", "replace")
            )
        except ValueError:
            continue
        configs += 1
        check_config(ctx, config, path)
    ctx.entry(path, "hdf5", data, {"model_configs": configs})
