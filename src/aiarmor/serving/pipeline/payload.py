"""Request bodies -> validated input batches, and model outputs -> hardened answers.

Inputs come as JSON (``{"inputs": [[...], ...]}``) or as one binary ``.npy`` array
(``Content-Type: application/x-npy``). The ``.npy`` header is parsed and checked before any
data is touched: object, structured and non-numeric dtypes are refused (nothing is ever
unpickled), and the declared shape must match the bytes actually sent, so a forged header
cannot make the gateway allocate more than the body-size limit. Every batch is then checked
against the model's declared schema: per-sample shape, batch size, finite values, range, and
that values fit the dtype. Any problem is a :class:`PayloadError` carrying a 4xx status and a
short message.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import numpy.lib.format as npformat

from aiarmor.serving.settings import InputSchema, OutputPolicy

__all__ = ["PayloadError", "finite_scores", "harden", "parse_inputs", "summarize"]

NPY_TYPES = ("application/x-npy", "application/octet-stream+npy")
MAX_NDIM = 32
"""Most axes a ``.npy`` body may declare (numpy 1.x's limit; a model takes far fewer)."""


class PayloadError(Exception):
    """A request body the gateway will not pass to the model."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_inputs(body: bytes, content_type: str | None, schema: InputSchema) -> np.ndarray:
    """The validated batch, shape ``(n, *schema.shape)``, dtype ``schema.dtype``."""
    kind = media_type(content_type)
    if kind == "application/json":
        array = _from_json(body)
    elif kind in NPY_TYPES:
        array = _from_npy(body)
    else:
        raise PayloadError(415, "send application/json or application/x-npy")
    return _validate(array, schema)


def _from_json(body: bytes) -> np.ndarray:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError(400, "body is not valid JSON") from None
    if not isinstance(doc, dict) or set(doc) != {"inputs"}:
        raise PayloadError(422, 'body must be {"inputs": [...]} and nothing else')
    try:
        array = np.asarray(doc["inputs"])
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise PayloadError(422, "inputs must be a rectangular array of numbers") from None
    if array.dtype.kind not in "iuf":
        raise PayloadError(422, "inputs must be a rectangular array of numbers")
    return array  # int64, uint64 or float64: exact until the checks in _validate


def _from_npy(body: bytes) -> np.ndarray:
    stream = io.BytesIO(body)
    try:
        version = npformat.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(version)
        reader = (
            npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        )
        shape, fortran, dtype = reader(stream, max_header_size=10_000)
    except (ValueError, SyntaxError, TypeError, OSError, EOFError):
        raise PayloadError(400, "body is not a valid .npy array") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "iuf":
        raise PayloadError(422, f"refusing .npy dtype {dtype.str!r}: numeric arrays only")
    if dtype.itemsize > 8:  # float128 and friends: no model takes them, casts would overflow
        raise PayloadError(422, f"refusing .npy dtype {dtype.str!r}: at most 64-bit numbers")
    if len(shape) > MAX_NDIM or any(d < 0 for d in shape):
        raise PayloadError(400, f".npy shape must be at most {MAX_NDIM} sizes >= 0")
    data = body[stream.tell() :]
    if math.prod(shape) * dtype.itemsize != len(data):
        raise PayloadError(400, ".npy header does not match the data sent")
    try:  # (0, 2**70) matches zero bytes, but no array of that shape exists
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    except ValueError:
        raise PayloadError(400, ".npy shape is not a possible array shape") from None


def _validate(array: np.ndarray, schema: InputSchema) -> np.ndarray:
    """Check ``array`` (any int/uint/float dtype) against ``schema`` and cast it.

    Range checks compare Python numbers (exact between ints and floats), so no value is
    rounded or wrapped before it is judged, and a value the model's dtype cannot hold is
    refused instead of becoming infinity (float) or wrapping around (int) in the cast.
    """
    want = tuple(schema.shape)
    if array.ndim != len(want) + 1 or tuple(array.shape[1:]) != want:
        raise PayloadError(
            422, f"inputs must have shape (n, {', '.join(map(str, want))}); got {array.shape}"
        )
    if not 1 <= array.shape[0] <= schema.max_batch:
        raise PayloadError(422, f"batch size must be 1..{schema.max_batch}")
    floats = array.dtype.kind == "f"
    if floats and not np.isfinite(array).all():
        raise PayloadError(422, "inputs must be finite (no NaN or infinity)")
    lo, hi = array.min().item(), array.max().item()
    if schema.min is not None and lo < schema.min:
        raise PayloadError(422, f"inputs below the allowed minimum {schema.min}")
    if schema.max is not None and hi > schema.max:
        raise PayloadError(422, f"inputs above the allowed maximum {schema.max}")
    dtype = np.dtype(schema.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if (floats and (array != np.round(array)).any()) or lo < info.min or hi > info.max:
            raise PayloadError(422, f"inputs must be integers that fit {schema.dtype}")
    else:
        biggest = float(np.finfo(dtype).max)
        if lo < -biggest or hi > biggest:
            raise PayloadError(
                422, f"inputs must fit {schema.dtype} (magnitude at most {biggest:.6g})"
            )
    return np.ascontiguousarray(array.astype(dtype))


def finite_scores(proba: np.ndarray) -> bool:
    """Whether a model's scores can be answered (JSON has no NaN or infinity)."""
    return proba.dtype.kind in "iub" or bool(np.isfinite(proba).all())


def harden(proba: np.ndarray | None, labels: np.ndarray, policy: OutputPolicy) -> dict[str, Any]:
    """What the caller gets: labels, plus top-k rounded scores unless label-only."""
    out: dict[str, Any] = {"labels": np.asarray(labels).astype(np.int64).tolist()}
    if proba is None or policy.label_only:
        return out
    k = min(policy.top_k or proba.shape[1], proba.shape[1])
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    top = proba[np.arange(len(proba))[:, None], order].astype(np.float64)  # round in float64
    if policy.round_digits is not None:
        top = np.round(top, policy.round_digits)
    out["scores"] = [
        [{"label": c, "score": p} for c, p in zip(cs, ps, strict=True)]
        for cs, ps in zip(order.tolist(), top.tolist(), strict=True)
    ]
    return out


def summarize(answer: dict[str, Any], limit: int = 16) -> str:
    """A short JSON summary of an answer for the audit log (labels only, first ``limit``)."""
    labels = answer.get("labels", [])
    return json.dumps({"n": len(labels), "labels": labels[:limit]}, separators=(",", ":"))
