"""Primitive writers for hand-built model files: pickle opcodes, zip, tar, protobuf, ...

Every file of the regression corpus is written byte by byte or opcode by opcode from these
(nothing is produced by the loaders under test), so a test states exactly what is on disk.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile

P2, P4 = b"\x80\x02", b"\x80\x04"
"""PROTO opcodes for protocols 2 and 4."""


def g(module: str, name: str) -> bytes:
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text: str) -> bytes:
    """SHORT_BINUNICODE opcode."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def bb(blob: bytes) -> bytes:
    """BINBYTES opcode."""
    return b"B" + struct.pack("<I", len(blob)) + blob


SYSTEM = g("os", "system") + b"(S'id'\ntR."
"""Protocol 0 ``os.system('id')``."""
PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
"""Protocol-2 pickle: GLOBAL os.system, BINUNICODE 'id', TUPLE1, REDUCE, STOP."""


def call(module: str, name: str, arg: str = "x") -> bytes:
    """Protocol 4 ``module.name(arg)`` via STACK_GLOBAL."""
    return P4 + u(module) + u(name) + b"\x93" + u(arg) + b"\x85R."


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    """A zip archive of ``members``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def tar_bytes(
    members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None
) -> bytes:
    """A ustar archive of regular ``members`` and ``links`` (name -> (type, target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return buf.getvalue()


def sevenz_bytes(members: dict[str, bytes]) -> bytes:
    """A 7z archive (needs py7zr, a dependency of aiarmor)."""
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        for name, body in members.items():
            archive.writestr(body, name)
    return buf.getvalue()


def safetensors_bytes(header: dict[str, object], data: bytes, hlen: int | None = None) -> bytes:
    """A safetensors file: little-endian header length, JSON header, data section."""
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if hlen is None else hlen) + raw + data


def gguf_bytes(kv: dict[str, str]) -> bytes:
    """A GGUF v3 file with string metadata and no tensors."""

    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    body = b"".join(s(k) + struct.pack("<I", 8) + s(v) for k, v in kv.items())
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + body


def keras_zip(layer: dict[str, object]) -> bytes:
    """A Keras v3 ``.keras`` zip with one layer in a Sequential config."""
    config = {"class_name": "Sequential", "module": "keras", "config": {"layers": [layer]}}
    return zip_bytes(
        {
            "metadata.json": json.dumps({"keras_version": "3.4.1"}).encode(),
            "config.json": json.dumps(config).encode(),
            "model.weights.h5": hdf5_bytes(b"", name=b"layers"),
        }
    )


def hdf5_bytes(attribute_text: bytes, name: bytes = b"model_config") -> bytes:
    """An HDF5 file start: signature, a version-0 superblock, then ``attribute_text``.

    Keras writes ``model_config`` as a string attribute, which HDF5 stores unfiltered; this
    places such a string (attribute ``name``) after binary framing like a global-heap object.
    """
    superblock = bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0) + bytes(32)
    framing = struct.pack("<HHIQ", 1, 1, 0, len(attribute_text))
    return b"\x89HDF\r\n\x1a\n" + superblock + name + b"\x00" + framing + attribute_text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def pb(num: int, value: bytes | int) -> bytes:
    """One protobuf field (varint or length-delimited), written by hand."""
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def onnx_model(
    *, domain: str = "", location: str | None = None, op: str = "Relu", nested: bool = False
) -> bytes:
    """An ONNX ModelProto: one node (``domain``) and one initializer.

    With ``location`` the initializer's data is external (TensorProto.external_data
    ``location``, data_location EXTERNAL); with ``nested`` the tensor sits in an ``If``
    node's ``then_branch`` subgraph (AttributeProto.g) instead of the main graph.
    """
    tensor = pb(1, 2) + pb(2, 1) + pb(8, b"w")  # dims [2], FLOAT, name
    if location is None:
        tensor += pb(9, b"\x00" * 8)  # raw_data
    else:
        entry = pb(1, b"location") + pb(2, location.encode())
        tensor += pb(13, entry) + pb(14, 1)
    node = pb(1, b"x") + pb(2, b"y") + pb(4, op.encode()) + pb(7, domain.encode())
    graph_io = pb(11, pb(1, b"x")) + pb(12, pb(1, b"y"))
    if nested:
        sub = pb(5, tensor) + pb(2, b"then")
        attr = pb(1, b"then_branch") + pb(6, sub) + pb(20, 5)  # type GRAPH
        graph = pb(1, node) + pb(1, pb(4, b"If") + pb(5, attr)) + pb(2, b"g") + graph_io
    else:
        graph = pb(1, node) + pb(2, b"g") + pb(5, tensor) + graph_io
    opset = pb(8, pb(1, domain.encode()) + pb(2, 1)) if domain else b""
    return pb(1, 8) + pb(2, b"aiarmor-test") + pb(7, graph) + pb(8, pb(2, 17)) + opset
