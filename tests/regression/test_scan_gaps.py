"""Regression tests for container and format gaps: zip tails, 7z/tar limits, safetensors
layout, HDF5 without h5py, ONNX subgraphs. Every file is built byte by byte here or in
:mod:`aiarmor.scanning.testing` (nothing is loaded; see conftest.py)."""

from __future__ import annotations

import json
import random
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.results import scan_path
from aiarmor.scanning import ScanLimits, ScanReport, scan, scan_bytes
from aiarmor.scanning.testing.builders import (
    PAYLOAD,
    hdf5_bytes,
    onnx_model,
    pb,
    safetensors_bytes,
    sevenz_bytes,
    tar_bytes,
    zip_bytes,
)
from aiarmor.scanning.testing.corpus import CASES, Case


def _rules(report: ScanReport, at_least: Severity = Severity.LOW) -> set[str]:
    return {f.check_id for f in report.findings if f.severity >= at_least}


def _critical_at(report: ScanReport, suffix: str) -> bool:
    return any(
        f.severity is Severity.CRITICAL and scan_path(f).endswith(suffix) for f in report.findings
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_corpus_case_is_detected(case: Case, tmp_path: Path) -> None:
    """The benchmark's hostile corpus: each file gets at least a medium finding, both in
    memory and from disk (files are memory-mapped there, which once hid a SavedModel op)."""
    data = case.build()
    assert _rules(scan_bytes(data, path=case.name), Severity.MEDIUM), case.technique
    path = tmp_path / case.name
    path.write_bytes(data)
    assert _rules(scan([path]), Severity.MEDIUM), case.technique


# (a) data outside the zip structure --------------------------------------------------------


def test_pickle_appended_after_end_record_is_scanned() -> None:
    report = scan_bytes(zip_bytes({"a.txt": b"hello"}) + PAYLOAD, path="m.zip")
    assert "scan.archive.polyglot" in _rules(report)
    assert _critical_at(report, "m.zip!<suffix>")


def test_large_appendix_beyond_the_end_record_search_window_is_scanned() -> None:
    """A zip followed by >64 KiB: the end record is found anyway and the tail scanned."""
    tail = PAYLOAD[:-1] + b"0" + b"\x80\x04\x95" + bytes(8) + b"N" * 70_000 + b"."
    report = scan_bytes(zip_bytes({"a.txt": b"hello"}) + tail, path="m.zip")
    assert "scan.archive.corrupt" not in _rules(report)
    assert _critical_at(report, "m.zip!<suffix>")


def test_pickle_in_the_archive_comment_is_scanned() -> None:
    data = bytearray(zip_bytes({"a.txt": b"hello"}))
    data[-2:] = struct.pack("<H", len(PAYLOAD))
    report = scan_bytes(bytes(data) + PAYLOAD, path="c.zip")
    assert _critical_at(report, "c.zip!<comment>")


def test_junk_prepended_zip_scans_prefix_and_members() -> None:
    """A zip behind junk (zipfile tolerates it); a pickle prefix runs under pickle.load."""
    junk = scan_bytes(b"JUNK" * 10 + zip_bytes({"m/data.pkl": PAYLOAD}), path="j.pt")
    assert "scan.archive.polyglot" in _rules(junk)
    assert _critical_at(junk, "j.pt!m/data.pkl")
    poly = scan_bytes(PAYLOAD + zip_bytes({"m/data.pkl": b"\x80\x02}."}), path="p.pt")
    assert _critical_at(poly, "p.pt!<prefix>")


def test_text_comment_is_not_a_finding() -> None:
    data = bytearray(zip_bytes({"a.txt": b"hello"}))
    data[-2:] = struct.pack("<H", 12)
    report = scan_bytes(bytes(data) + b"made by me\r\n", path="ok.zip")
    assert report.findings == ()


# (b) 7z: declared sizes are not trusted ----------------------------------------------------


def test_7z_ratio_bomb_is_stopped() -> None:
    """2 MB of zeros in a few hundred bytes: over the ratio cap, whatever is declared."""
    report = scan_bytes(sevenz_bytes({"z.bin": bytes(2_000_000)}), path="z.7z")
    assert "scan.archive.limit" in _rules(report)


def test_7z_declared_size_over_limit_is_refused() -> None:
    blob = sevenz_bytes({"big.bin": bytes(300_000)})
    report = scan_bytes(blob, path="b.7z", limits=ScanLimits(max_member_bytes=100_000))
    assert "scan.archive.limit" in _rules(report)


def _lying_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every 7z member declare 1 byte, as a forged header would."""
    py7zr = pytest.importorskip("py7zr")
    real = py7zr.SevenZipFile.list

    def lying(self: Any) -> list[Any]:
        infos = real(self)
        for info in infos:
            info.uncompressed = 1
        return infos

    monkeypatch.setattr(py7zr.SevenZipFile, "list", lying)


def test_7z_member_that_lies_about_its_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    _lying_list(monkeypatch)
    blob = sevenz_bytes({"bomb.bin": random.Random(0).randbytes(400_000)})  # not a ratio bomb
    report = scan_bytes(blob, path="l.7z", limits=ScanLimits(max_member_bytes=200_000))
    hits = [f for f in report.findings if f.check_id == "scan.archive.limit"]
    assert hits and "member size" in hits[0].title
    assert hits[0].evidence["decoded"] > 200_000  # the real size, not the declared one
    assert not any(f.path == "l.7z!bomb.bin" for f in report.files)  # nothing analyzed


def test_7z_total_decoded_bytes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    _lying_list(monkeypatch)
    rng = random.Random(0)
    blob = sevenz_bytes({f"m{i}.bin": rng.randbytes(150_000) for i in range(4)})
    limits = ScanLimits(max_member_bytes=200_000, max_total_bytes=400_000)
    report = scan_bytes(blob, path="t.7z", limits=limits)
    assert any("total" in f.title for f in report.findings if f.check_id == "scan.archive.limit")


# (c) tar member count while iterating --------------------------------------------------------


def test_tar_member_limit_holds_while_iterating(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_a: object) -> None:
        raise AssertionError("getmembers() materialises every header")

    monkeypatch.setattr(tarfile.TarFile, "getmembers", never)
    blob = tar_bytes({f"f{i}.txt": b"x" for i in range(50)})
    report = scan_bytes(blob, path="many.tar", limits=ScanLimits(max_members=10))
    hit = next(f for f in report.findings if f.check_id == "scan.archive.limit")
    assert hit.evidence["members"] == 11
    assert sum(1 for f in report.files if "many.tar!" in f.path) == 10


def test_tar_total_bytes_limit() -> None:
    blob = tar_bytes({f"f{i}.bin": bytes(4000) for i in range(5)})
    report = scan_bytes(blob, path="t.tar", limits=ScanLimits(max_total_bytes=10_000))
    assert "scan.archive.limit" in _rules(report)


# (d) safetensors layout -------------------------------------------------------------------

_F = {"dtype": "F32", "shape": [2]}


@pytest.mark.parametrize(
    ("header", "data", "rule"),
    [
        ({"a": {**_F, "data_offsets": [8, 16]}}, bytes(16), "layout"),  # does not start at 0
        ({"a": {**_F, "data_offsets": [0, 8]}, "b": {**_F, "data_offsets": [12, 20]}},
         bytes(20), "layout"),  # gap
        ({"a": {**_F, "data_offsets": [0, 8]}}, bytes(8) + PAYLOAD, "layout"),  # trailing
        ({"a": {**_F, "data_offsets": [0, 8]}, "b": {**_F, "data_offsets": [4, 12]}},
         bytes(12), "offsets"),  # overlap
        ({"a": {**_F, "data_offsets": [0, 16]}}, bytes(16), "size"),  # dtype x shape != bytes
        ({"a": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), "dtype"),
        ({"a": {**_F, "data_offsets": [0, 8]}, "__metadata__": {"k": 1}}, bytes(8), "metadata"),
        ({"a": {**_F, "data_offsets": [0, 8]}, "__metadata__": {"k": {"x": "y"}}}, bytes(8),
         "metadata"),
    ],
)  # fmt: skip
def test_safetensors_layout_rules(header: dict[str, Any], data: bytes, rule: str) -> None:
    report = scan_bytes(safetensors_bytes(header, data), path="x.safetensors")
    assert f"scan.safetensors.{rule}" in _rules(report, Severity.MEDIUM)


@pytest.mark.parametrize("hlen", [0, 1, 2**60, 10**9])
def test_safetensors_insane_header_sizes(hlen: int) -> None:
    blob = safetensors_bytes({"a": {**_F, "data_offsets": [0, 8]}}, bytes(8), hlen=hlen)
    assert "scan.safetensors.header" in _rules(scan_bytes(blob, path="x"), Severity.HIGH)


def test_safetensors_duplicate_tensor_names() -> None:
    """Two entries named ``a``: JSON readers keep different ones."""
    raw = b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32",'
    raw += b' "shape": [1], "data_offsets": [0, 4]}}'
    blob = struct.pack("<Q", len(raw)) + raw + bytes(8)
    assert "scan.safetensors.header" in _rules(scan_bytes(blob, path="d.safetensors"))


def test_well_formed_safetensors_with_empty_tensor_is_clean() -> None:
    header = {"a": {**_F, "data_offsets": [0, 8]}, "e": {"dtype": "F16", "shape": [0],
              "data_offsets": [8, 8]}, "__metadata__": {"format": "pt"}}  # fmt: skip
    assert scan_bytes(safetensors_bytes(header, bytes(8)), path="ok.safetensors").findings == ()


# (e) HDF5 Keras models without h5py ------------------------------------------------------------

_CODE = "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAdABkAYMBUwApAk4="


def _h5(layers: list[dict[str, Any]], keras3: bool = False) -> bytes:
    config: dict[str, Any] = {"class_name": "Sequential", "config": {"layers": layers}}
    if keras3:
        config = {"module": "keras", **config}
    return hdf5_bytes(json.dumps(config).encode() + bytes(40))


def test_hdf5_lambda_with_marshalled_code_is_critical() -> None:
    layer = {"class_name": "Lambda", "config": {"function": [_CODE, None, None],
             "function_type": "lambda"}}  # fmt: skip
    report = scan_bytes(_h5([layer]), path="m.h5")
    hit = next(f for f in report.findings if f.check_id == "scan.keras.lambda")
    assert hit.severity is Severity.CRITICAL and hit.evidence["marshalled_code"]


def test_hdf5_keras3_config_that_starts_with_module() -> None:
    layer = {"module": "keras.layers", "class_name": "Lambda", "config": {}}
    report = scan_bytes(_h5([layer], keras3=True), path="m.h5")
    assert "scan.keras.lambda" in _rules(report, Severity.HIGH)


def test_hdf5_custom_objects_and_function_references() -> None:
    layers = [
        {"class_name": "Mine", "registered_name": "Custom>Mine", "config": {}},
        {"module": "builtins", "class_name": "function", "config": "exec"},
    ]
    report = scan_bytes(_h5(layers), path="m.h5")
    assert "scan.keras.custom_object" in _rules(report, Severity.MEDIUM)
    fn = next(f for f in report.findings if f.check_id == "scan.keras.function")
    assert fn.severity is Severity.CRITICAL and fn.evidence["function"] == "builtins.exec"


def test_hdf5_lambda_marker_outside_a_readable_config() -> None:
    """The config JSON is broken (fail closed) but a Lambda class name is in the bytes."""
    text = b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", '
    report = scan_bytes(hdf5_bytes(text + b"\x00" + bytes(40)), path="m.h5")
    assert {"scan.keras.lambda", "scan.hdf5.unscannable"} <= _rules(report, Severity.MEDIUM)


def test_hdf5_with_unknown_superblock_is_unscannable() -> None:
    blob = b"\x89HDF\r\n\x1a\n" + bytes([9]) + bytes(60)
    assert "scan.hdf5.unscannable" in _rules(scan_bytes(blob, path="m.h5"))


def test_hdf5_benign_model_and_weights_are_clean() -> None:
    dense = {"class_name": "Dense", "config": {"units": 2, "activation": "relu"}}
    assert scan_bytes(_h5([dense]), path="m.h5").findings == ()
    weights = hdf5_bytes(b"dense/kernel:0" + bytes(64), name=b"layer_names")
    assert scan_bytes(weights, path="w.h5").findings == ()


# ONNX, hand-built protobuf ------------------------------------------------------------------


def test_onnx_benign_model_is_clean() -> None:
    report = scan_bytes(onnx_model(), path="m.onnx")
    assert report.findings == ()
    assert report.files[0].format == "onnx"
    internal = scan_bytes(onnx_model(location="weights.bin"), path="m.onnx")
    assert internal.findings == ()


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"location": "../../etc/passwd"}, "scan.onnx.external_data"),
        ({"location": "/etc/passwd", "nested": True}, "scan.onnx.external_data"),
        ({"location": "..\\..\\secret"}, "scan.onnx.external_data"),
        ({"domain": "evil.ops", "op": "Pwn"}, "scan.onnx.custom_domain"),
    ],
)
def test_onnx_hostile_models(kwargs: dict[str, Any], rule: str) -> None:
    report = scan_bytes(onnx_model(**kwargs), path="m.onnx")
    assert rule in _rules(report, Severity.MEDIUM)


def test_onnx_graph_with_a_corrupt_field_is_a_finding() -> None:
    blob = pb(1, 8) + pb(7, b"\x0a\x7f" + bytes(4))  # a node field claiming 127 bytes
    assert "scan.onnx.malformed" in _rules(scan_bytes(blob, path="m.onnx"))
