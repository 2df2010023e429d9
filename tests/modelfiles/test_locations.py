"""A scan finding is a core Finding with a Location: the file, the archive member, the offset."""

from __future__ import annotations

import json
from pathlib import Path

from aiarmor.core.findings import Finding, Location, Severity
from aiarmor.modelfiles import pickle_walk
from aiarmor.modelfiles.results import anchor, locate, scan_finding, scan_path
from aiarmor.scanning import scan, scan_bytes
from aiarmor.scanning.testing.builders import PAYLOAD, bb, zip_bytes

GLOBAL_AT = PAYLOAD.index(b"cos\n")
"""Where the GLOBAL opcode of the payload starts."""


def _worst(blob: bytes, path: str) -> Finding:
    return scan_bytes(blob, path=path).findings[0]


def test_a_pickle_finding_is_a_core_finding_at_its_opcode() -> None:
    f = _worst(PAYLOAD, "x.pkl")
    assert isinstance(f, Finding) and f.check_id == "scan.pickle.dangerous_callable"
    assert f.location == Location("x.pkl", None, GLOBAL_AT)
    assert PAYLOAD[GLOBAL_AT] == ord("c")  # the GLOBAL opcode


def test_an_archive_member_is_the_location_member_and_offsets_are_the_members() -> None:
    f = _worst(zip_bytes({"a/data.pkl": PAYLOAD}), "m.zip")
    assert f.location == Location("m.zip", "a/data.pkl", GLOBAL_AT)
    nested = _worst(zip_bytes({"in.zip": zip_bytes({"d.pkl": PAYLOAD})}), "m.zip")
    assert nested.location is not None and nested.location.member == "in.zip!d.pkl"
    assert scan_path(nested) == "m.zip!in.zip!d.pkl"


def test_an_object_arrays_pickle_offset_counts_the_npy_header() -> None:
    walked = pickle_walk.walk(PAYLOAD, path="a.npy", depth=0, base=128)
    (f,) = walked.findings
    assert f.location == Location("a.npy", None, 128 + GLOBAL_AT)


def test_a_nested_pickles_findings_carry_no_offset_of_the_outer_blob() -> None:
    outer = b"\x80\x02cbuiltins\nexec\n" + bb(PAYLOAD) + b"\x85R."
    inner = [f for f in scan_bytes(outer, path="o.pkl").findings if "nesting" in f.evidence]
    assert inner and all(f.location == Location("o.pkl") for f in inner)


def test_a_file_named_with_the_member_separator_keeps_its_whole_name(tmp_path: Path) -> None:
    folder = tmp_path / "v1!beta"
    folder.mkdir()
    (folder / "m.zip").write_bytes(zip_bytes({"data.pkl": PAYLOAD}))
    (folder / "x!.pkl").write_bytes(PAYLOAD)
    report = scan([folder])
    where = {f.location for f in report.findings if f.severity.label == "critical"}
    assert where == {
        Location(str(folder / "m.zip"), "data.pkl", GLOBAL_AT),
        Location(str(folder / "x!.pkl"), None, GLOBAL_AT),
    }


def test_the_scan_json_keeps_path_and_rule_and_no_location_key() -> None:
    doc = scan_bytes(zip_bytes({"a/data.pkl": PAYLOAD}), path="m.zip").to_dict()
    first = doc["findings"][0]
    assert list(first) == [
        "rule", "severity", "title", "detail", "path", "remediation", "standards", "evidence",
    ]  # fmt: skip
    assert first["rule"] == "scan.pickle.dangerous_callable" and first["path"] == "m.zip!a/data.pkl"
    json.dumps(doc)


def test_locate_and_anchor() -> None:
    assert locate("a.zip!b!c.pkl") == Location("a.zip", "b!c.pkl")
    assert locate("a!b.zip!c.pkl", root="a!b.zip") == Location("a!b.zip", "c.pkl")
    assert locate("a!b.zip", root="a!b.zip") == Location("a!b.zip")
    f = scan_finding("scan.x", Severity.HIGH, "t", "d", "a!b.zip!c")
    fixed = anchor(f, "a!b.zip")
    assert fixed.location == Location("a!b.zip", "c") and scan_path(fixed) == scan_path(f)
    assert anchor(f, "elsewhere") is f


def test_the_default_remediation_is_a_whole_sentence() -> None:
    assert _worst(PAYLOAD, "x.pkl").remediation.endswith("(safetensors, ONNX without custom ops).")
