"""Benign files made by the real writers produce no findings (and are never loaded)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from jsonschema import Draft202012Validator
from safetensors.torch import save_file

from aiarmor.reporting.sarif import scan_to_sarif
from aiarmor.scanning import ScanReport, scan, scan_bytes
from aiarmor.scanning.testing.builders import hdf5_bytes

SCHEMA = Draft202012Validator(
    json.loads(resources.files("aiarmor.scanning").joinpath("scan.schema.json").read_text())
)


def _clean(report: ScanReport) -> None:
    assert report.findings == (), [f.to_dict() for f in report.findings]
    assert report.exit_code == 0
    assert report.to_dict()["summary"]["result"] == "no findings"
    SCHEMA.validate(report.to_dict())


def test_torch_save_zip(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3, 2), "b": torch.ones(2)}, path)
    report = scan([path])
    _clean(report)
    entry = next(f for f in report.files if f.format == "pytorch-zip")
    assert entry.details["tensors"] == 2


def test_safetensors_save_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(3, 2), "b": torch.ones(2, dtype=torch.bfloat16)}, str(path))
    report = scan([path])
    _clean(report)
    assert report.files[0].format == "safetensors"


def test_numpy_save_and_savez(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    np.savez(tmp_path / "b.npz", x=np.zeros(3), y=np.ones(2, dtype=np.int64))
    report = scan([tmp_path])
    _clean(report)
    assert {f.format for f in report.files} >= {"npy", "npz"}


def test_keras_style_zip_with_standard_layers() -> None:
    config = {
        "class_name": "Sequential",
        "module": "keras",
        "config": {"layers": [{"class_name": "Dense", "module": "keras.layers", "config": {}}]},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.4.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", hdf5_bytes(b"dense/kernel", name=b"layer_names"))
    report = scan_bytes(buf.getvalue(), path="m.keras")
    assert report.exit_code == 0
    assert any(f.format == "keras-v3" for f in report.files)


def test_plain_template_gguf() -> None:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    kv = {
        "general.name": "tiny",
        "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    }
    body = b"".join(s(k) + struct.pack("<I", 8) + s(v) for k, v in kv.items())
    report = scan_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + body, path="m.gguf")
    _clean(report)
    assert report.files[0].details["chat_templates"] == ["tokenizer.chat_template"]


def test_plain_text_has_no_finding() -> None:
    _clean(scan_bytes(b"just a readme\n", path="README.md"))


def test_sarif_shape_with_findings() -> None:
    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
    log = scan_to_sarif(scan_bytes(payload, path="x.pkl"))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {
        r["ruleId"] for r in run["results"]
    }
    assert (
        run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "x.pkl"
    )


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    report = scan([tmp_path / "nope.bin"])
    assert report.exit_code == 2 and report.errors


def test_protocol5_sklearn_pickle_and_numpy_matrix() -> None:
    """Protocol 5 pickles arrays via numpy's ``_frombuffer``; np.matrix is an ndarray subclass."""
    import pickle

    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [0.2], [0.8]], [0, 1, 0, 1])
    _clean(scan_bytes(pickle.dumps(model, protocol=5), path="m.pkl"))
    _clean(scan_bytes(pickle.dumps(np.asmatrix(np.eye(2)), protocol=4), path="m.pkl"))


def test_python2_npy_header_with_long_integers() -> None:
    """numpy's own test data: a Python 2 header writes the shape as ``(2L,)``."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }".ljust(69) + b"\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(16)
    _clean(scan_bytes(blob, path="py2.npy"))
