"""One sniffer, one answer: what the scanner analyses is what the loader acts on.

Issue 13 item 3: ``targets/formats.py`` and ``scanning/formats/*`` each identified model files
and disagreed (zlib ``ZF`` streams, safetensors headers). Both now ask
:func:`aiarmor.modelfiles.sniff.sniff` / :func:`~aiarmor.modelfiles.sniff.sniff_file`; these
tests prove it file by file, for the scanner's corpus, for sample files of every format and
for every format ``load_target`` accepts.
"""

from __future__ import annotations

import bz2
import gzip
import pickle
import tempfile
import zlib
from pathlib import Path

import joblib
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ModelLoadError
from aiarmor.modelfiles import engine, sniff
from aiarmor.modelfiles.formats.common import ScanContext
from aiarmor.modelfiles.registry import REGISTERED, ModelFormat, Sniffed, analysers
from aiarmor.scanning.testing import builders as b
from aiarmor.scanning.testing.corpus import CASES
from aiarmor.targets import artifacts, load_target, loading

PICKLE = pickle.dumps({"w": [1.0, 2.0]}, protocol=4)


def _samples() -> dict[str, bytes]:
    """One or more files of every registered format, built as tests/scanning and
    tests/regression build them."""
    return {
        "text.txt": b"just some text\n",
        "junk.bin": bytes(range(256)) * 4,
        "p0.pkl": pickle.dumps([1, 2], protocol=0),
        "p5.pkl": pickle.dumps([1, 2], protocol=5),
        "disguised.json": PICKLE,
        "a.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
        + b" " * 50 + b"\n" + b"\0" * 4,
        "m.zip": b.zip_bytes({"archive/data.pkl": PICKLE, "archive/version": b"3\n"}),
        "polyglot.pkl": PICKLE + b.zip_bytes({"x.txt": b"y"}),
        "m.tar": b.tar_bytes({"pickle": PICKLE, "storages": b""}),
        "m.7z": b.sevenz_bytes({"a.pkl": PICKLE}),
        "m.gz": gzip.compress(PICKLE),
        "m.bz2": bz2.compress(PICKLE),
        "m.z": zlib.compress(PICKLE),
        "zf.joblib": b"ZF0x%x\n" % len(PICKLE) + zlib.compress(PICKLE),
        "text.gz": gzip.compress(b"hello"),
        "w.safetensors": b.safetensors_bytes({"w": {"dtype": "F32", "shape": [1],
                                                    "data_offsets": [0, 4]}}, b"\0" * 4),
        "huge.bin": b"\xff" * 8 + b"{}",
        "m.gguf": b.gguf_bytes({"general.name": "m"}),
        "keras.keras": b.keras_zip({"class_name": "Dense", "config": {}}),
        "m.h5": b.hdf5_bytes(b'{"class_name": "Dense"}'),
        "m.onnx": b.onnx_model(),
        "enc.aiarmor-enc": b"AIARMENC" + b"\0" * 80,
    }  # fmt: skip


def _files() -> list[tuple[str, bytes]]:
    corpus = [(f"{i:03d}-{case.name}", case.build()) for i, case in enumerate(CASES)]
    return corpus + sorted(_samples().items())


def _scanner_dispatch(path: Path) -> str:
    """The analyser the scanner handed the whole file to."""
    ctx = ScanContext(engine.DEFAULT_LIMITS)
    engine.inspect_file(ctx, path)
    return dict(ctx.dispatched)[str(path)]


def _refuse_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these files may be loaded: every real loader raises."""

    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("a loader ran on a corpus file")

    for name in ("load_torchscript", "load_exported", "load_skops"):
        monkeypatch.setattr(artifacts, name, refuse)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


def _spy_loader(monkeypatch: pytest.MonkeyPatch) -> list[Sniffed]:
    """Record the answer load_target acts on."""
    seen: list[Sniffed] = []

    def spy(path: Path) -> Sniffed:
        seen.append(sniff.sniff_file(path))
        return seen[-1]

    monkeypatch.setattr(loading, "sniff_model_file", spy)
    return seen


def test_the_loader_uses_the_scanner_sniffer() -> None:
    assert loading.sniff_model_file is sniff.sniff_file
    assert artifacts.sniff_model_file is sniff.sniff_file
    names = [a.name for a in analysers()]
    assert len(names) == len(REGISTERED) == len(set(names)) and names[-1] == "unknown"


@pytest.mark.parametrize(("name", "data"), _files(), ids=lambda v: v if isinstance(v, str) else "")
def test_scanner_and_loader_act_on_the_one_sniffer_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    answer = sniff.sniff_file(path)
    assert answer.kind == sniff.sniff(data).name
    assert _scanner_dispatch(path) == answer.kind
    _refuse_loaders(monkeypatch)
    seen = _spy_loader(monkeypatch)
    with pytest.raises(ModelLoadError):  # hostile or not a loadable model: refused, not run
        load_target(str(path))
    assert seen == [answer]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zf.joblib", ModelFormat.PICKLE),
        ("m.z", ModelFormat.PICKLE),
        ("text.gz", ModelFormat.UNKNOWN),
        ("huge.bin", ModelFormat.SAFETENSORS),
        ("w.safetensors", ModelFormat.SAFETENSORS),
        ("polyglot.pkl", ModelFormat.SUSPICIOUS),
        ("m.tar", ModelFormat.PICKLE),
    ],
)
def test_the_cases_the_two_sniffers_disagreed_on(
    tmp_path: Path, name: str, expected: ModelFormat
) -> None:
    path = tmp_path / name
    path.write_bytes(_samples()[name])
    assert sniff.sniff_file(path).format is expected


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)  # type: ignore[no-any-return]


def _accepted(tmp: Path) -> list[tuple[Path, ModelFormat, dict[str, object]]]:
    """A file of every format load_target accepts, with the options it needs."""
    net = _Net().eval()
    ts, pt2, raw = tmp / "m.torchscript", tmp / "m.pt2", tmp / "m.pt"
    torch.jit.save(torch.jit.script(net), ts)
    torch.export.save(torch.export.export(net, (torch.zeros(2, 4),)), pt2)
    plain = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()  # allowlisted classes only
    torch.save(plain, raw)
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1])
    jl, pk = tmp / "m.joblib", tmp / "m.pkl"
    joblib.dump(clf, jl, compress=3)
    pk.write_bytes(pickle.dumps(clf, protocol=4))
    trusted: dict[str, object] = {"trust_pickle": True, "n_classes": 3, "input_shape": (4,)}
    return [
        (ts, ModelFormat.TORCHSCRIPT, {"input_shape": (4,)}),
        (pt2, ModelFormat.TORCH_EXPORT, {}),
        (raw, ModelFormat.PICKLE, trusted),
        (jl, ModelFormat.PICKLE, {"trust_pickle": True}),
        (pk, ModelFormat.PICKLE, {"trust_pickle": True}),
    ]


@pytest.mark.slow
def test_every_accepted_format_is_what_the_scanner_vetted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path, expected, options in _accepted(tmp_path):
        answer = sniff.sniff_file(path)
        assert answer.format is expected, path.name
        assert _scanner_dispatch(path) == answer.kind, path.name
        seen = _spy_loader(monkeypatch)
        assert load_target(str(path), **options).n_classes >= 2  # type: ignore[arg-type]
        assert seen == [answer], path.name


_MAGICS = [b"", b"PK\x03\x04", b"\x80\x04", b"ZF", b"\x1f\x8b", b"BZh", b"\x93NUMPY",
           b"x\x9c", b"AIARMENC", b"7z\xbc\xaf\x27\x1c", b"\x89HDF\r\n\x1a\n", b"GGUF", b"(",
           b"c"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_MAGICS), st.binary(max_size=300))
def test_any_bytes_get_the_same_answer_from_both_routes(magic: bytes, rest: bytes) -> None:
    data = magic + rest
    ctx = ScanContext(engine.DEFAULT_LIMITS)
    engine.analyze(ctx, data, "blob", 0)
    assert ctx.dispatched[0] == ("blob", sniff.sniff(data).name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob"
        path.write_bytes(data)
        assert sniff.sniff_file(path).kind == (sniff.sniff(data).name if data else "")
