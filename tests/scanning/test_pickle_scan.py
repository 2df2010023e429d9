"""Benign inputs, properties and robustness of the pickle walker (nothing is ever loaded)."""

from __future__ import annotations

import io
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from aiarmor.modelfiles.pickle_policy import classify, normalize
from aiarmor.modelfiles.pickle_scan import analyze_npy, analyze_pickle, looks_like_pickle


def _refuse(*_a: object, **_k: object) -> None:
    raise AssertionError("the scanner must never deserialize")


@pytest.fixture(autouse=True)
def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                      (torch, "load"), (joblib, "load"), (np, "load")]:  # fmt: skip
        monkeypatch.setattr(mod, name, _refuse)


STATE = {"w": torch.randn(3, 4), "b": torch.zeros(3, dtype=torch.int64), "h": torch.ones(2).half()}


def test_torch_zip_state_dict_has_no_findings() -> None:
    buf = io.BytesIO()
    torch.save({"model": STATE, "epoch": 3, "lin": torch.nn.Linear(2, 2).state_dict()}, buf)
    with zipfile.ZipFile(buf) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        res = analyze_pickle(zf.read(name), path=f"m.pt!{name}")
    assert res.findings == ()
    assert "torch._utils._rebuild_tensor_v2" in res.details["callables"]


def test_torch_legacy_state_dict_has_no_findings() -> None:
    buf = io.BytesIO()
    torch.save(STATE, buf, _use_new_zipfile_serialization=False)
    res = analyze_pickle(buf.getvalue(), path="legacy.pt")
    assert res.format == "pytorch-legacy"
    assert res.findings == ()
    assert res.details["streams"] == 5
    assert res.details["storage_bytes"] > 0


def test_legacy_storage_size_mismatch_is_trailing_data() -> None:
    buf = io.BytesIO()
    torch.save(STATE, buf, _use_new_zipfile_serialization=False)
    res = analyze_pickle(buf.getvalue() + b"extra bytes", path="legacy.pt")
    assert [f.check_id for f in res.findings] == ["scan.pickle.trailing_data"]


@pytest.mark.parametrize(
    "obj",
    [
        np.arange(10.0),
        {"a": np.ones((3, 3), dtype=np.float32), "o": np.array([1, "x"], dtype=object)},
        [np.zeros(5, dtype=np.int8), np.array(["ab", "c"]), np.array([True, False])],
    ],
)
def test_joblib_arrays_have_no_findings(obj: object) -> None:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    res = analyze_pickle(buf.getvalue(), path="m.joblib")
    assert res.format == "joblib"
    assert res.findings == ()


def test_joblib_logistic_regression_has_no_findings() -> None:
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((20, 3)), np.arange(20) % 2)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    res = analyze_pickle(buf.getvalue(), path="lr.joblib")
    assert res.findings == ()
    assert "sklearn.linear_model._logistic.LogisticRegression" in res.details["callables"]


def test_other_sklearn_names_are_low() -> None:
    assert classify("sklearn.cluster._kmeans.KMeans") == "plausible"
    assert classify("sklearn.utils.__init__.x") == "unknown"


@pytest.mark.parametrize("protocol", range(6))
def test_plain_containers_every_protocol(protocol: int) -> None:
    data = {"a": [1, 2.5, "x", b"y", None, True, (1, 2)], "s": {1, 2}, "f": frozenset([3])}
    res = analyze_pickle(pickle.dumps(data, protocol=protocol), path="p.pkl")
    assert res.findings == ()
    assert res.details["protocols"] == [protocol if protocol >= 2 else 0]  # 0: no PROTO


def test_np_save_numeric_and_bad_header() -> None:
    buf = io.BytesIO()
    np.save(buf, np.ones((4, 5)))
    res = analyze_npy(buf.getvalue(), path="a.npy")
    assert (res.format, res.findings) == ("npy", ())
    short = analyze_npy(buf.getvalue()[:-8], path="a.npy")
    assert [f.check_id for f in short.findings] == ["scan.npy.bad_header"]
    assert analyze_npy(b"not numpy", path="x.npy").findings[0].check_id == "scan.npy.bad_header"


def test_np_save_object_array_plain_data() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, [2]], dtype=object), allow_pickle=True)
    res = analyze_npy(buf.getvalue(), path="o.npy")
    assert res.format == "npy-object"
    assert res.findings == ()


def test_looks_like_pickle() -> None:
    for p in range(6):
        assert looks_like_pickle(pickle.dumps({"a": [1, 2]}, protocol=p)[:16])
    assert not looks_like_pickle(b"PK\x03\x04")
    assert not looks_like_pickle(b"\x93NUMPY")
    assert not looks_like_pickle(b"hello world")


def test_normalize() -> None:
    assert normalize("__builtin__", "eval") == "builtins.eval"
    assert normalize(" posix", "sys tem") == "os.system"


def test_trailing_garbage_is_reported() -> None:
    res = analyze_pickle(pickle.dumps([1], protocol=2) + b"\x01\x02\x03zz", path="t.pkl")
    assert [f.check_id for f in res.findings] == ["scan.pickle.trailing_data"]


def test_deep_nesting_hits_the_limit() -> None:
    blob = b"cos\nsystem\n(S'id'\ntR."
    for _ in range(8):
        blob = b"\x80\x02cpickle\nloads\nB" + len(blob).to_bytes(4, "little") + blob + b"\x85R."
    res = analyze_pickle(blob, path="deep.pkl")
    assert any("depth limit" in f.title for f in res.findings)


def test_opcode_dense_pickle_is_walked_fully() -> None:
    data = pickle.dumps([[i, str(i), float(i)] for i in range(20_000)], protocol=4)
    res = analyze_pickle(data, path="dense.pkl")
    assert res.findings == ()
    assert res.details["opcodes"] > 100_000


_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(_plain, st.integers(0, 5))
def test_plain_data_has_no_findings(obj: object, protocol: int) -> None:
    res = analyze_pickle(pickle.dumps(obj, protocol=protocol), path="h.pkl")
    assert res.findings == ()


_SEED = pickle.dumps({"a": [1, 2.5, "xyz" * 5], "b": (None, b"\x80\x02")}, protocol=2) + (
    b"cos\nsystem\n(S'id'\ntR."
)


def _seeds() -> list[bytes]:
    jl, lt = io.BytesIO(), io.BytesIO()
    joblib.dump({"a": np.arange(8.0), "o": np.array([1, "x"], dtype=object)}, jl)
    torch.save(STATE, lt, _use_new_zipfile_serialization=False)
    return [_SEED, jl.getvalue(), lt.getvalue()]


SEEDS = _seeds()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
)
def test_mutations_never_raise(seed: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for at, value in edits:
        data[at % len(data)] = value
    res = analyze_pickle(bytes(data), path="mut.pkl")
    assert isinstance(res.details, dict)
    assert all(f.severity.label in ("low", "medium", "high", "critical") for f in res.findings)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    analyze_pickle(data, path="r.pkl")
    analyze_npy(b"\x93NUMPY\x01\x00" + data, path="r.npy")
