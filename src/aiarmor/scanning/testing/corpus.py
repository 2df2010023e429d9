"""The hostile regression corpus: one entry per published bypass class, built in memory.

``tests/regression`` asserts that ``aiarmor scan`` detects every case; ``bench/bench_scan.py``
writes the same bytes to disk and runs the peer scanners on them. Each case is a
(technique class, file name, builder); the file name's extension is what a victim would see.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from aiarmor.scanning.testing.builders import (
    P2,
    P4,
    PAYLOAD,
    SYSTEM,
    bb,
    call,
    g,
    gguf_bytes,
    hdf5_bytes,
    keras_zip,
    onnx_model,
    pb,
    safetensors_bytes,
    sevenz_bytes,
    tar_bytes,
    u,
    zip_bytes,
)


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile file of the corpus."""

    technique: str
    """The bypass class it belongs to (a row of the benchmark table)."""
    name: str
    """File name written to disk (extension as an attacker would choose it)."""
    build: Callable[[], bytes]
    """Returns the file's bytes."""


GADGETS = (
    "pkgutil.resolve_name", "runpy._run_code", "pip.main", "cProfile.run", "pydoc.pipepager",
    "timeit.timeit", "code.InteractiveInterpreter.runcode", "ctypes.CDLL",
    "asyncio.unix_events._UnixSelectorEventLoop._make_subprocess_transport",
    "numpy.testing._private.utils.runstring", "torch.utils.bottleneck.__main__.run_cprofile",
    "torch.jit.unsupported_tensor_ops.execWrapper", "logging.config._resolve",
    "ensurepip._run_pip", "idlelib.pyshell.ModifiedInterpreter.runcode", "venv.create",
)  # fmt: skip
"""Stdlib/torch/numpy gadgets named in picklescan, modelscan and fickling advisories."""


def _gadget(qualname: str) -> Callable[[], bytes]:
    module, _, name = qualname.partition(".")
    return lambda: call(module, name)


def _memo_confusion() -> bytes:
    """BINPUT and MEMOIZE mixed so a naive memo model resolves safe names (picklescan#14)."""
    return (P4 + u("os") + b"q\x00" + b"0" + u("system") + b"q\x01" + b"0"
            + u("torch._utils") + b"\x94" + b"0" + u("_rebuild_tensor_v2") + b"\x94" + b"0"
            + b"h\x00h\x01\x93" + u("id") + b"\x85R.")  # fmt: skip


def _getattr_chain() -> bytes:
    return (g("builtins", "getattr") + b"(" + g("builtins", "__import__") + b"(S'os'\ntR"
            + b"S'system'\ntR(S'id'\ntR.")  # fmt: skip


def _import_module() -> bytes:
    return (P2 + g("builtins", "getattr") + g("importlib", "import_module") + u("os") + b"\x85R"
            + u("system") + b"\x86R" + u("id") + b"\x85R.")  # fmt: skip


def _attrgetter() -> bytes:
    return (P2 + g("_operator", "attrgetter") + u("system") + b"\x85R"
            + g("builtins", "__import__") + u("os") + b"\x85R\x85R"
            + u("id") + b"\x85R.")  # fmt: skip


def _dill_function() -> bytes:
    """dill's function reconstruction: _create_code + _create_function (arbitrary bytecode)."""
    code = g("dill._dill", "_create_code") + b"(K\x00K\x00" + bb(b"\x97\x00d\x00S\x00") + b"t"
    return P2 + g("dill._dill", "_create_function") + b"(" + code + b"R}tR."


def _joblib_zf() -> bytes:
    return b"ZF0x" + b"0" * 8 + zlib.compress(PAYLOAD)


def _legacy_torch() -> bytes:
    """Legacy torch.save layout: magic number, protocol, sys info, then the hostile object."""
    magic = P2 + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
    proto = P2 + b"M\xe9\x03."
    info = P2 + b"}q\x00" + u("little_endian") + b"\x88s."
    return magic + proto + info + SYSTEM + P2 + b"]."


def _object_npy() -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header.ljust(117, b" ") + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + SYSTEM


def _torch_zip() -> bytes:
    members = {"archive/data.pkl": PAYLOAD, "archive/byteorder": b"little",
               "archive/data/0": b"\x00" * 16, "archive/version": b"3\n"}  # fmt: skip
    return zip_bytes(members)


def _name_mismatch() -> bytes:
    data = bytearray(zip_bytes({"data.pkl": PAYLOAD}))
    data[30:38] = b"data.txt"  # the local header's file name
    return bytes(data)


def _flag_flip() -> bytes:
    data = bytearray(zip_bytes({"x.pkl": PAYLOAD}))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 1  # encrypted in the central directory only
    return bytes(data)


def _bad_crc() -> bytes:
    data = bytearray(zip_bytes({"x.pkl": PAYLOAD}))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 16 : cd + 20] = b"\x00\x00\x00\x00"
    return bytes(data)


def _zip_comment() -> bytes:
    data = bytearray(zip_bytes({"a.txt": b"hello"}))
    data[-2:] = len(PAYLOAD).to_bytes(2, "little")
    return bytes(data) + PAYLOAD


_T = {"dtype": "F32", "shape": [2]}
_LAMBDA: dict[str, object] = {
    "class_name": "Lambda",
    "module": "keras.layers",
    "config": {
        "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAAA"}}
    },
}
_H5_LAMBDA = (
    b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": '
    b'{"function": ["4wEAAAAAAAAAAAAAAAAAAAAA", null, null], "function_type": "lambda"}}]}}'
)
_TEMPLATE = "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}"


def _cases() -> list[Case]:
    c = Case
    out = [
        c("GLOBAL+REDUCE os.system (protocol 0/2)", "proto0.pkl", lambda: SYSTEM),
        c("GLOBAL+REDUCE os.system (protocol 0/2)", "proto2.pkl", lambda: PAYLOAD),
        c(
            "STACK_GLOBAL via memo",
            "memo.pkl",
            lambda: (
                P4
                + u("os")
                + b"\x94"
                + b"0"
                + u("system")
                + b"\x94"
                + b"0"
                + b"h\x00h\x01\x93"
                + u("id")
                + b"\x85R."
            ),
        ),
        c("memo confusion (BINPUT/MEMOIZE)", "memo_confusion.pkl", _memo_confusion),
        c("INST / OBJ / NEWOBJ_EX", "inst.pkl", lambda: b"(S'id'\nios\nsystem\n."),
        c(
            "INST / OBJ / NEWOBJ_EX",
            "obj.pkl",
            lambda: b"(" + g("subprocess", "Popen") + b"S'id'\no.",
        ),
        c(
            "INST / OBJ / NEWOBJ_EX",
            "newobj_ex.pkl",
            lambda: P4 + g("subprocess", "Popen") + u("id") + b"\x85}\x92.",
        ),
        c("getattr / __import__ chain", "getattr.pkl", _getattr_chain),
        c("importlib.import_module", "import_module.pkl", _import_module),
        c("operator.attrgetter gadget", "attrgetter.pkl", _attrgetter),
        c(
            "functools.partial",
            "partial.pkl",
            lambda: P2 + g("functools", "partial") + g("os", "system") + u("id") + b"\x86R)R.",
        ),
        c(
            "nested pickle.loads",
            "nested.pkl",
            lambda: P2 + g("pickle", "loads") + bb(SYSTEM) + b"\x85R.",
        ),
        c(
            "base64-encoded nested pickle",
            "b64.pkl",
            lambda: P2 + u(base64.b64encode(PAYLOAD).decode()) + b".",
        ),
        c(
            "broken stream after payload (nullifAI)",
            "broken.pkl",
            lambda: g("os", "system") + b"(S'id'\ntR" + b"\xff\xfe junk",
        ),
        c("payload in a second stream", "multi.pkl", lambda: P2 + b"}." + SYSTEM),
        c("EXT opcodes (copyreg registry)", "ext.pkl", lambda: P2 + b"\x82\x01)R."),
        c(
            "module aliases (__builtin__/posix/nt/whitespace)",
            "builtin_eval.pkl",
            lambda: call("__builtin__", "eval", "1"),
        ),
        c(
            "module aliases (__builtin__/posix/nt/whitespace)",
            "posix.pkl",
            lambda: call("posix", "system", "id"),
        ),
        c(
            "module aliases (__builtin__/posix/nt/whitespace)",
            "space.pkl",
            lambda: call("os ", " system", "id"),
        ),
        c("dill-serialized function", "dill.pkl", _dill_function),
        c(
            "unknown callable (allowlist, not denylist)",
            "unknown.pkl",
            lambda: call("mylib.hooks", "run"),
        ),
        c("legacy torch.save layout", "legacy.pt", _legacy_torch),
        c("PyTorch zip data.pkl payload", "model.pt", _torch_zip),
        c("joblib zlib-compressed pickle", "m.joblib", lambda: zlib.compress(PAYLOAD)),
        c("joblib zlib-compressed pickle", "zf.joblib", _joblib_zf),
        c("NumPy object array", "obj.npy", _object_npy),
        c("zip member with innocent name", "m.zip", lambda: zip_bytes({"weights.txt": PAYLOAD})),
        c("zip member with innocent name", "m.keras", lambda: zip_bytes({"config.json": PAYLOAD})),
        c("zip local/central name mismatch", "mismatch.zip", _name_mismatch),
        c("zip flag / CRC tricks", "flag.zip", _flag_flip),
        c("zip flag / CRC tricks", "crc.zip", _bad_crc),
        c("7z archive (nullifAI)", "m.7z", lambda: sevenz_bytes({"model.pkl": PAYLOAD})),
        c(
            "tar.gz / tar.bz2 wrappers",
            "m.tar.gz",
            lambda: gzip.compress(tar_bytes({"a/data.pkl": PAYLOAD})),
        ),
        c(
            "tar.gz / tar.bz2 wrappers",
            "m.tar.bz2",
            lambda: bz2.compress(tar_bytes({"a/data.pkl": PAYLOAD})),
        ),
        c("polyglot pickle + zip", "poly.pt", lambda: PAYLOAD + zip_bytes({"a.txt": b"hello"})),
        c(
            "polyglot pickle + zip",
            "junk_zip.pt",
            lambda: b"junk" + zip_bytes({"archive/data.pkl": PAYLOAD}),
        ),
        c(
            "data after the zip end record",
            "suffix.zip",
            lambda: zip_bytes({"a.txt": b"hi"}) + PAYLOAD,
        ),
        c("data after the zip end record", "comment.zip", _zip_comment),
        c("non-standard extension", "model.safetensors", lambda: PAYLOAD),
        c("non-standard extension", "notes.txt", lambda: PAYLOAD),
        c("archive path traversal", "slip.zip", lambda: zip_bytes({"../evil.pkl": b"text"})),
        c(
            "archive path traversal",
            "slip.tar",
            lambda: tar_bytes({}, {"ln": (tarfile.SYMTYPE, "../../etc/passwd")}),
        ),
        c(
            "safetensors header abuse",
            "overlap.safetensors",
            lambda: safetensors_bytes(
                {"a": {**_T, "data_offsets": [0, 8]}, "b": {**_T, "data_offsets": [4, 12]}},
                bytes(12),
            ),
        ),
        c(
            "safetensors header abuse",
            "gap.safetensors",
            lambda: safetensors_bytes({"a": {**_T, "data_offsets": [0, 8]}}, bytes(8) + PAYLOAD),
        ),
        c(
            "safetensors header abuse",
            "hlen.safetensors",
            lambda: safetensors_bytes({}, b"", hlen=2**60),
        ),
        c(
            "GGUF chat-template injection",
            "m.gguf",
            lambda: gguf_bytes({"tokenizer.chat_template": _TEMPLATE}),
        ),
        c("Keras Lambda layer", "lambda.keras", lambda: keras_zip(_LAMBDA)),
        c(
            "Keras custom object",
            "custom.keras",
            lambda: keras_zip({"class_name": "Evil", "module": "attacker.layers", "config": {}}),
        ),
        c("Keras HDF5 Lambda", "lambda.h5", lambda: hdf5_bytes(_H5_LAMBDA)),
        c(
            "ONNX external-data traversal",
            "ext.onnx",
            lambda: onnx_model(location="../../etc/passwd"),
        ),
        c(
            "ONNX external-data traversal",
            "sub.onnx",
            lambda: onnx_model(location="/etc/passwd", nested=True),
        ),
        c(
            "ONNX custom operator domain",
            "custom.onnx",
            lambda: onnx_model(domain="evil.ops", op="Pwn"),
        ),
        c(
            "SavedModel file / Python ops",
            "saved_model.pb",
            lambda: pb(1, 1) + pb(2, pb(2, pb(1, pb(1, b"p") + pb(2, b"PyFunc")))),
        ),
    ]
    out += [c("stdlib / framework gadgets", f"gadget_{q}.pkl", _gadget(q)) for q in GADGETS]
    return out


CASES: tuple[Case, ...] = tuple(_cases())
"""Every hostile case, in table order."""


def techniques() -> list[str]:
    """The technique classes in corpus order."""
    return list(dict.fromkeys(case.technique for case in CASES))
