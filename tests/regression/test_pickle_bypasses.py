"""Regression corpus: one test per known pickle-scanner bypass class, built opcode by opcode.

Nothing here is ever loaded: an autouse fixture makes every unpickler raise.
"""

from __future__ import annotations

import base64
import io
import pickle
import struct
import zipfile

import joblib
import numpy as np
import pytest
import torch

from aiarmor.modelfiles.pickle_scan import PickleAnalysis, analyze_npy, analyze_pickle
from aiarmor.scanning.testing.builders import P2, P4, SYSTEM, bb, g, u


def _refuse(*_a: object, **_k: object) -> None:
    raise AssertionError("the scanner must never deserialize")


@pytest.fixture(autouse=True)
def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                      (torch, "load"), (joblib, "load"), (np, "load")]:  # fmt: skip
        monkeypatch.setattr(mod, name, _refuse)


def callables(res: PickleAnalysis, rule: str = "scan.pickle.dangerous_callable") -> set[str]:
    """Callables named by findings of ``rule``."""
    return {str(f.evidence.get("callable")) for f in res.findings if f.check_id == rule}


def test_protocol0_global_os_system() -> None:
    """Classic protocol-0 GLOBAL + REDUCE of os.system."""
    res = analyze_pickle(SYSTEM, path="a.pkl")
    assert "os.system" in callables(res)
    assert res.findings[0].severity.label == "critical"


def test_stack_global_via_memo() -> None:
    """STACK_GLOBAL whose operands come from the memo (BINGET), not adjacent constants."""
    data = (P4 + u("os") + b"\x94" + b"0" + u("system") + b"\x94" + b"0"
            + b"h\x00h\x01\x93" + u("id") + b"\x85R.")  # fmt: skip
    assert "os.system" in callables(analyze_pickle(data, path="m.pkl"))


def test_memo_confusion_binput_and_memoize() -> None:
    """picklescan#14: mixing BINPUT and MEMOIZE so a naive memo model sees safe names."""
    data = (P4 + u("os") + b"q\x00" + b"0" + u("system") + b"q\x01" + b"0"
            + u("torch._utils") + b"\x94" + b"0" + u("_rebuild_tensor_v2") + b"\x94" + b"0"
            + b"h\x00h\x01\x93" + u("id") + b"\x85R.")  # fmt: skip
    assert "os.system" in callables(analyze_pickle(data, path="memo.pkl"))


def test_importlib_import_module_chain() -> None:
    """GHSA-vvpj-8cmc-gx39 follow-up: importlib.import_module('os') then getattr -> os.system."""
    data = (P2 + g("builtins", "getattr") + g("importlib", "import_module") + u("os") + b"\x85R"
            + u("system") + b"\x86R" + u("id") + b"\x85R.")  # fmt: skip
    res = analyze_pickle(data, path="il.pkl")
    assert {"importlib.import_module", "os.system"} <= callables(res)


def test_stack_global_computed_operand() -> None:
    """STACK_GLOBAL whose module name is itself a call result (dynamic import)."""
    data = P4 + g("builtins", "str") + u("os") + b"\x85R" + u("system") + b"\x93" + b")R."
    rules = {f.check_id for f in analyze_pickle(data, path="d.pkl").findings}
    assert "scan.pickle.dynamic_import" in rules


def test_inst_and_obj() -> None:
    """INST and OBJ call a class/callable with MARK-delimited arguments."""
    inst = b"(S'id'\nios\nsystem\n."
    obj = b"(" + g("subprocess", "Popen") + b"S'id'\no."
    assert "os.system" in callables(analyze_pickle(inst, path="i.pkl"))
    assert "subprocess.Popen" in callables(analyze_pickle(obj, path="o.pkl"))


def test_newobj_ex() -> None:
    """NEWOBJ_EX (protocol 4) instantiates a class with args and kwargs."""
    data = P4 + g("subprocess", "Popen") + u("id") + b"\x85}\x92."
    assert "subprocess.Popen" in callables(analyze_pickle(data, path="n.pkl"))


def test_builtins_getattr_chain() -> None:
    """getattr(__import__('os'), 'system')('id'): the chain is resolved to os.system."""
    data = (g("builtins", "getattr") + b"(" + g("builtins", "__import__") + b"(S'os'\ntR"
            + b"S'system'\ntR(S'id'\ntR.")  # fmt: skip
    res = analyze_pickle(data, path="g.pkl")
    assert {"builtins.getattr", "builtins.__import__", "os.system"} <= callables(res)
    chains = [
        f.evidence["chain"] for f in res.findings if f.evidence.get("callable") == "os.system"
    ]
    assert any("getattr(os, 'system')" in c for c in chains)


def test_operator_attrgetter() -> None:
    """operator.attrgetter('system')(os-module) then called: a computed callable."""
    data = (P2 + g("_operator", "attrgetter") + u("system") + b"\x85R"
            + g("builtins", "__import__") + u("os") + b"\x85R\x85R"
            + u("id") + b"\x85R.")  # fmt: skip
    res = analyze_pickle(data, path="ag.pkl")
    assert "operator.attrgetter" in callables(res)
    assert any(f.title == "Pickle calls a computed object" for f in res.findings)


def test_functools_partial() -> None:
    """functools.partial(os.system, 'id')() hides the REDUCE of os.system."""
    data = P2 + g("functools", "partial") + g("os", "system") + u("id") + b"\x86R)R."
    assert {"functools.partial", "os.system"} <= callables(analyze_pickle(data, path="p.pkl"))


def test_nested_pickle_loads_bytes() -> None:
    """pickle.loads(b'<inner payload>'): the inner pickle is analyzed with a nesting path."""
    data = P2 + g("pickle", "loads") + bb(SYSTEM) + b"\x85R."
    res = analyze_pickle(data, path="nl.pkl")
    inner = [f for f in res.findings if f.evidence.get("callable") == "os.system"]
    assert inner and inner[0].evidence["nesting"]
    assert any(f.check_id == "scan.pickle.nested" for f in res.findings)


def test_base64_nested_pickle() -> None:
    """A base64 string constant that decodes to a pickle carrying the payload."""
    inner = P2 + g("os", "system") + u("id") + b"\x85R."
    data = P2 + u(base64.b64encode(inner).decode()) + b"."
    assert "os.system" in callables(analyze_pickle(data, path="b64.pkl"))


def test_broken_stream_after_payload() -> None:
    """nullifAI: payload first, then a broken stream that makes other scanners bail out."""
    data = g("os", "system") + b"(S'id'\ntR" + b"\xff\xfe junk"
    res = analyze_pickle(data, path="broken.pkl")
    assert "os.system" in callables(res)
    assert any(f.check_id == "scan.pickle.broken_stream" for f in res.findings)


def test_payload_in_second_stream() -> None:
    """Several concatenated streams; the payload is in the second one."""
    data = pickle.dumps({"a": 1}, protocol=4) + SYSTEM
    res = analyze_pickle(data, path="multi.pkl")
    hits = [f for f in res.findings if f.evidence.get("callable") == "os.system"]
    assert hits and hits[0].evidence["stream"] == 1


def test_ext_opcodes() -> None:
    """EXT1/2/4 take the callable from the copyreg extension registry."""
    for ext in (b"\x82\x01", b"\x83\x01\x00", b"\x84\x01\x00\x00\x00"):
        res = analyze_pickle(P2 + ext + b")R.", path="ext.pkl")
        assert any(f.check_id == "scan.pickle.extension_code" for f in res.findings)


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("pkgutil", "resolve_name", "pkgutil.resolve_name"),
        ("runpy", "_run_code", "runpy._run_code"),
        ("pip", "main", "pip.main"),
        ("__builtin__", "eval", "builtins.eval"),
        ("posix", "system", "os.system"),
        ("nt", "system", "os.system"),
        ("copy_reg", "_reconstructor ", "copyreg._reconstructor"),
        ("os ", " system", "os.system"),
    ],
)
def test_dangerous_names_and_aliases(module: str, name: str, expected: str) -> None:
    """pkgutil.resolve_name / runpy / pip and __builtin__/posix/nt/whitespace aliases."""
    data = P4 + u(module) + u(name) + b"\x93" + u("x") + b"\x85R."
    res = analyze_pickle(data, path="alias.pkl")
    found = {str(f.evidence.get("callable")) for f in res.findings}
    if expected == "copyreg._reconstructor":
        assert expected not in found  # allowed once normalized
    else:
        assert expected in callables(res)


@pytest.mark.parametrize(
    "qualname",
    [
        "cProfile.run", "pydoc.pipepager", "timeit.timeit", "bdb.Bdb.run", "doctest.debug_script",
        "code.InteractiveInterpreter.runcode", "idlelib.pyshell.ModifiedInterpreter.runcode",
        "lib2to3.pgen2.pgen.ParserGenerator.make_label", "venv.create",
        "asyncio.unix_events._UnixSelectorEventLoop._make_subprocess_transport",
        "numpy.testing._private.utils.runstring", "torch.utils.bottleneck.__main__.run_cprofile",
        "torch.jit.unsupported_tensor_ops.execWrapper", "torch.storage._load_from_bytes",
        "_io.FileIO", "shutil.rmtree", "ctypes.CDLL", "logging.config._resolve",
        "test.support.script_helper.assert_python_ok", "ensurepip._run_pip",
        "zipimport.zipimporter", "torch._dynamo.guards.GuardBuilder.get",
        "ssl.get_server_certificate",
        "marshal.loads", "importlib.util.find_spec",
    ],
)  # fmt: skip
def test_stdlib_gadgets(qualname: str) -> None:
    """Stdlib/torch/numpy gadgets from picklescan/modelscan/fickling advisories."""
    module, _, name = qualname.partition(".")
    data = P4 + u(module) + u(name) + b"\x93" + u("x") + b"\x85R."
    res = analyze_pickle(data, path="gadget.pkl")
    assert any(f.severity.label == "critical" for f in res.findings), qualname


def test_torch_zip_data_pkl_with_payload() -> None:
    """A torch zip checkpoint's data.pkl (persistent ids) with a payload spliced in."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    with zipfile.ZipFile(buf) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        benign = zf.read(name)
    data = benign[:-1] + b"0" + g("os", "system") + u("id") + b"\x85R."
    res = analyze_pickle(data, path=f"m.pt!{name}")
    assert "os.system" in callables(res)
    assert res.details["persistent_ids"] >= 1


def test_legacy_torch_with_payload() -> None:
    """Legacy torch.save layout (magic, protocol, sys-info, model, keys) with a hostile model."""
    data = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps({"little_endian": True}, protocol=2) + SYSTEM
            + pickle.dumps([], protocol=2))  # fmt: skip
    res = analyze_pickle(data, path="legacy.pt")
    assert res.format == "pytorch-legacy"
    assert "os.system" in callables(res)


def test_joblib_payload_after_inline_array() -> None:
    """joblib writes array bytes inline after the wrapper's BUILD; the payload follows them."""
    buf = io.BytesIO()
    joblib.dump({"a": np.arange(16.0)}, buf)
    data = buf.getvalue()[:-1] + b"0" + g("os", "system") + u("id") + b"\x85R."
    res = analyze_pickle(data, path="m.joblib")
    assert res.format == "joblib"
    assert "os.system" in callables(res)
    assert not any(f.check_id == "scan.pickle.broken_stream" for f in res.findings)


def test_object_npy_with_payload() -> None:
    """An object-dtype .npy whose payload is a hostile pickle."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header.ljust(117, b" ") + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + SYSTEM
    res = analyze_npy(data, path="x.npy")
    assert res.format == "npy-object"
    assert "os.system" in callables(res)


def test_defaultdict_factory() -> None:
    """collections.defaultdict is allowed, but not with an arbitrary factory."""
    data = P2 + g("collections", "defaultdict") + g("mylib", "factory") + b"\x85R."
    res = analyze_pickle(data, path="dd.pkl")
    assert any("defaultdict" in f.title for f in res.findings)


def test_truncated_at_every_offset_after_payload() -> None:
    """Truncating after the payload's GLOBAL never hides it."""
    data = P2 + u("pad") + b"0" + g("os", "system") + u("id") + b"\x85R."
    start = data.index(b"c") + len(g("os", "system"))
    for cut in range(start, len(data)):
        res = analyze_pickle(data[:cut], path="t.pkl")
        assert "os.system" in callables(res), cut
