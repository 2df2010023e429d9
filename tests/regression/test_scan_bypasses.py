"""Regression corpus for the scan framework: one test per container/format bypass class.

Every file is built byte by byte in the test; nothing is loaded (see conftest.py).
"""

from __future__ import annotations

import bz2
import gzip
import json
import struct
import tarfile
import zipfile
import zlib

import pytest

from aiarmor.core.findings import Severity
from aiarmor.scanning import ScanLimits, ScanReport, scan, scan_bytes
from aiarmor.scanning.testing.builders import (
    PAYLOAD,
    gguf_bytes,
    hdf5_bytes,
    keras_zip,
    pb,
    safetensors_bytes,
    sevenz_bytes,
    tar_bytes,
    zip_bytes,
)


def _rules(report: ScanReport, at_least: Severity = Severity.LOW) -> set[str]:
    return {f.check_id for f in report.findings if f.severity >= at_least}


def _critical(report: ScanReport) -> bool:
    return any(f.severity is Severity.CRITICAL for f in report.findings)


def test_pickle_in_zip_member_with_innocent_name() -> None:
    """Pickle hidden in a zip member named like data (``weights.txt``): content, not name."""
    report = scan_bytes(zip_bytes({"weights.txt": PAYLOAD}), path="m.zip")
    assert _critical(report)
    assert "scan.format.mismatch" in _rules(report)


def test_json_member_that_is_a_pickle() -> None:
    """A ``config.json`` member that is really a pickle (Keras/skops-style disguise)."""
    report = scan_bytes(zip_bytes({"config.json": PAYLOAD}), path="m.keras")
    assert _critical(report)


def test_zip_local_central_name_mismatch() -> None:
    """Local header names ``a.txt``, central directory ``a.pkl`` (zipfile/loader disagreement)."""
    data = bytearray(zip_bytes({"data.pkl": PAYLOAD}))
    data[30:38] = b"data.txt"  # the local header's file name
    report = scan_bytes(bytes(data), path="m.zip")
    assert "scan.archive.header_mismatch" in _rules(report)
    assert _critical(report)


def test_zip_flipped_encryption_flag_and_bad_crc() -> None:
    """Flag bit 0 set in the central directory only, and a wrong CRC (picklescan zip tricks)."""
    data = bytearray(zip_bytes({"x.pkl": PAYLOAD}))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 1
    report = scan_bytes(bytes(data), path="m.zip")
    assert {"scan.archive.encrypted", "scan.archive.header_mismatch"} <= _rules(report)
    crc = bytearray(zip_bytes({"x.pkl": PAYLOAD}))
    cd = crc.rfind(b"PK\x01\x02")
    crc[cd + 16 : cd + 20] = b"\x00\x00\x00\x00"
    report = scan_bytes(bytes(crc), path="m.zip")
    assert "scan.archive.crc_mismatch" in _rules(report)
    assert _critical(report)


def test_7z_compressed_pickle_nullifai() -> None:
    """nullifAI (ReversingLabs, 2025): a pickle inside a 7z archive evades zip-only scanners."""
    report = scan_bytes(sevenz_bytes({"model.pkl": PAYLOAD}), path="m.7z")
    assert _critical(report)


def test_pickle_in_tar_in_gzip() -> None:
    """A pickle in a tar in gzip (``.tar.gz`` checkpoints); also bz2 and xz wrappers."""
    tar = tar_bytes({"archive/data.pkl": PAYLOAD})
    for blob in (gzip.compress(tar), bz2.compress(tar)):
        assert _critical(scan_bytes(blob, path="m.bin"))


def test_joblib_zlib_compressed_pickle() -> None:
    """joblib's zlib compression (``ZF`` header variant and plain zlib) hides the opcodes."""
    assert _critical(scan_bytes(zlib.compress(PAYLOAD), path="m.joblib"))
    assert _critical(scan_bytes(b"ZF0x" + b"0" * 8 + zlib.compress(PAYLOAD), path="m.z"))


def test_nesting_past_depth_limit() -> None:
    """Archives nested deeper than ``max_depth`` are a limit finding (fail closed)."""
    blob = PAYLOAD
    for _ in range(4):
        blob = zip_bytes({"inner.zip": blob})
    report = scan_bytes(blob, path="m.zip", limits=ScanLimits(max_depth=2))
    assert "scan.archive.limit" in _rules(report, Severity.MEDIUM)


def test_zip_bomb_ratio() -> None:
    """A highly compressed member (zip bomb) exceeds the ratio limit and is not inflated."""
    data = zip_bytes({"zeros.bin": b"\x00" * (4 * 1024**2)}, zipfile.ZIP_DEFLATED)
    report = scan_bytes(data, path="bomb.zip")
    assert "scan.archive.limit" in _rules(report)


def test_gzip_bomb_size() -> None:
    """A gzip stream that inflates past ``max_member_bytes`` is a limit finding."""
    blob = gzip.compress(b"\x00" * 200_000)
    report = scan_bytes(blob, path="b.gz", limits=ScanLimits(max_member_bytes=1000))
    assert "scan.archive.limit" in _rules(report)


@pytest.mark.parametrize("name", ["../evil.pkl", "/etc/cron.d/x", "C:/x.pkl", "a\\..\\b"])
def test_traversal_inzip_bytes(name: str) -> None:
    """Zip-slip: member names that escape the extraction directory."""
    report = scan_bytes(zip_bytes({name: b"text"}), path="m.zip")
    assert "scan.archive.traversal" in _rules(report)


def test_traversal_in_tar_including_symlink() -> None:
    """Tar-slip: ``../`` names, and symlink/hardlink members pointing outside."""
    tar = tar_bytes({"../x": b"a"}, {"ln": (tarfile.SYMTYPE, "../../etc/passwd")})
    hard = tar_bytes({}, {"h": (tarfile.LNKTYPE, "/etc/shadow")})
    assert (
        len([f for f in scan_bytes(tar, path="t.tar").findings if "traversal" in f.check_id]) == 2
    )
    assert "scan.archive.traversal" in _rules(scan_bytes(hard, path="h.tar"))


def test_torch_zip_with_payload_in_data_pkl() -> None:
    """A PyTorch zip checkpoint whose ``archive/data.pkl`` carries a REDUCE payload."""
    members = {
        "archive/data.pkl": PAYLOAD,
        "archive/byteorder": b"little",
        "archive/data/0": b"\x00" * 16,
        "archive/version": b"3\n",
    }
    report = scan_bytes(zip_bytes(members), path="model.pt")
    assert _critical(report)
    assert any(f.format == "pytorch-zip" and f.details["tensors"] == 1 for f in report.files)


@pytest.mark.parametrize("name", ["model.bin", "notes.txt", "model.safetensors"])
def test_pickle_with_non_pickle_extension(name: str, tmp_path: object) -> None:
    """A raw pickle named ``.bin``/``.txt``/``.safetensors`` is identified by content."""
    report = scan_bytes(PAYLOAD, path=name)
    assert _critical(report)


def test_safetensors_overlapping_and_out_of_range_offsets() -> None:
    """safetensors header abuse: overlapping tensors and offsets past the data section."""
    t = {"dtype": "F32", "shape": [2]}
    overlap = {"a": {**t, "data_offsets": [0, 8]}, "b": {**t, "data_offsets": [4, 12]}}
    assert "scan.safetensors.offsets" in _rules(
        scan_bytes(safetensors_bytes(overlap, bytes(12)), path="x")
    )
    out = {"a": {**t, "data_offsets": [0, 8]}}
    report = scan_bytes(safetensors_bytes(out, bytes(4)), path="x")
    assert "scan.safetensors.offsets" in _rules(report)


def test_safetensors_huge_header_length() -> None:
    """A header length of 2**60 (allocation DoS in naive readers)."""
    blob = safetensors_bytes({}, b"", hlen=2**60)
    assert "scan.safetensors.header" in _rules(scan_bytes(blob, path="x.safetensors"))


def test_gguf_malicious_chat_template() -> None:
    """CVE-2024-34359 (llama-cpp-python): a chat template that reaches ``__globals__``."""
    evil = "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}"
    report = scan_bytes(gguf_bytes({"tokenizer.chat_template": evil}), path="m.gguf")
    assert "scan.gguf.chat_template" in _rules(report, Severity.HIGH)


def test_polyglot_zip_appended_to_pickle() -> None:
    """A pickle with a zip appended: torch.load sees the zip, pickle scanners the pickle."""
    blob = PAYLOAD + zip_bytes({"a.txt": b"hello"})
    report = scan_bytes(blob, path="m.pt")
    assert "scan.archive.polyglot" in _rules(report)
    assert _critical(report)


def test_polyglot_pickle_appended_tozip_bytes() -> None:
    """A zip followed by a pickle: data after the end record is reported."""
    report = scan_bytes(zip_bytes({"a.txt": b"hello"}) + PAYLOAD, path="m.zip")
    assert "scan.archive.polyglot" in _rules(report)


def test_directory_scan_reports_member(tmp_path: pytest.TempPathFactory) -> None:
    """Directory recursion: a payload deep in a model folder is found."""
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "sub").mkdir()
    (root / "sub" / "tokenizer.json").write_bytes(PAYLOAD)
    (root / "README.md").write_text("# model\n")
    report = scan([root])
    assert _critical(report) and report.exit_code == 1


def test_keras_zip_with_lambda_layer() -> None:
    """Keras Lambda layer with base64 marshalled bytecode (CVE-2024-3660 class)."""
    layer = {
        "class_name": "Lambda",
        "module": "keras.layers",
        "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}},
    }
    report = scan_bytes(keras_zip(layer), path="m.keras")
    assert "scan.keras.lambda" in _rules(report, Severity.HIGH)


def test_keras_custom_object_outside_keras() -> None:
    """Custom-object injection: a layer whose module is an arbitrary importable package."""
    layer = {"class_name": "Evil", "module": "attacker.layers", "config": {}}
    assert "scan.keras.custom_object" in _rules(scan_bytes(keras_zip(layer), path="m.keras"))


def test_hdf5_model_config_with_lambda() -> None:
    """Legacy ``.h5``: the ``model_config`` attribute string holds a Lambda layer."""
    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda"}]}}
    blob = hdf5_bytes(json.dumps(config).encode() + bytes(50))
    assert "scan.keras.lambda" in _rules(scan_bytes(blob, path="m.h5"), Severity.HIGH)


def test_onnx_external_data_traversal() -> None:
    """ONNX external data ``../../etc/passwd`` (arbitrary file read on load, CVE-2024-27318)."""
    entry = pb(1, b"location") + pb(2, b"../../etc/passwd")
    tensor = pb(8, b"w") + pb(13, entry) + pb(14, 1)
    node = pb(1, b"x") + pb(2, b"y") + pb(4, b"Relu") + pb(7, b"evil.domain")
    model = pb(1, 8) + pb(7, pb(1, node) + pb(5, tensor))
    report = scan_bytes(model, path="m.onnx")
    assert "scan.onnx.external_data" in _rules(report, Severity.HIGH)
    assert "scan.onnx.custom_domain" in _rules(report, Severity.MEDIUM)


def test_saved_model_with_file_and_python_ops() -> None:
    """TF SavedModel graph using ReadFile / PyFunc (file access and Python execution)."""
    node = pb(1, b"n") + pb(2, b"ReadFile")
    node2 = pb(1, b"p") + pb(2, b"PyFunc")
    meta_graph = pb(2, pb(1, node) + pb(1, node2))
    report = scan_bytes(pb(1, 1) + pb(2, meta_graph), path="saved_model.pb")
    ops = {f.evidence["op"] for f in report.findings if f.check_id == "scan.savedmodel.op"}
    assert ops == {"ReadFile", "PyFunc"}


def test_zip_bomb_that_lies_about_its_size_hits_the_limit():
    """Declared sizes are attacker-controlled: a 50 MB member declared as 1,000 bytes."""
    import zlib as _zlib

    from aiarmor.scanning import scan_bytes as _scan_bytes

    data = b"\0" * 50_000_000
    packer = _zlib.compressobj(9, _zlib.DEFLATED, -15)
    body = packer.compress(data) + packer.flush()
    name, crc = b"a.bin", _zlib.crc32(data)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), 1000,
                        len(name), 0) + name  # fmt: skip
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                          len(body), 1000, len(name), 0, 0, 0, 0, 0, 0) + name  # fmt: skip
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    report = _scan_bytes(local + body + central + end, path="bomb.zip")
    assert "scan.archive.limit" in {f.check_id for f in report.findings}


def test_deeply_nested_gguf_arrays_fail_closed():
    """Recursion in a metadata reader must become a finding, never a crash."""

    from aiarmor.scanning import scan_bytes as _scan_bytes

    key = b"k"
    nested = struct.pack("<IQ", 0, 1) + b"\x00"  # innermost: an array of one uint8
    for _ in range(2000):
        nested = struct.pack("<IQ", 9, 1) + nested  # an array holding that array
    blob = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    blob += struct.pack("<I", 9) + nested
    report = _scan_bytes(blob, path="deep.gguf")
    assert any("nested too deeply" in f.detail for f in report.findings)


def test_directory_symlink_to_a_file_outside_is_reported_not_followed(tmp_path):
    """A model directory with a symlink to a host file: a loader following it reads that file."""
    from aiarmor.scanning import scan as _scan

    outside = tmp_path / "secret.pkl"
    outside.write_bytes(b"\x80\x04\x95\x00cos\nsystem\n.")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.pkl").symlink_to(outside)
    report = _scan([model])
    rules = {f.check_id for f in report.findings}
    assert "scan.archive.traversal" in rules
    assert not any("system" in str(f.evidence) for f in report.findings)  # not followed
