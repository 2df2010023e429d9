"""Garbage ``--weights`` files: one line saying what the file is not, never a torch traceback.

Issue 14: random bytes, text and empty files given to ``--weights`` surfaced torch's own
errors (``IndexError: pop from empty list``, ``KeyError: 101``, ``EOFError``), or claimed the
bytes "would run arbitrary code".
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from aiarmor.core.errors import AiarmorError, ModelLoadError
from aiarmor.targets import load_target

NOT_WEIGHTS = "is neither a safetensors file nor a torch.save state_dict"


def _safetensors_header(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _torch_zip(net: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


GARBAGE = {
    "empty.bin": (b"", NOT_WEIGHTS + ": it is empty"),
    "random.bin": (bytes(range(7, 255)) * 9, NOT_WEIGHTS),
    "text.bin": (b"hello world, these are not weights\n", NOT_WEIGHTS + ": it is a text file"),
    "stop.bin": (b".", NOT_WEIGHTS),  # torch: IndexError: pop from empty list
    "mark.bin": (b"(.", NOT_WEIGHTS),
    "proto4.bin": (b"\x80\x04" + bytes(range(100)), NOT_WEIGHTS + ": it is a raw pickle"),
    "proto2.bin": (b"\x80\x02" + bytes(range(100)), NOT_WEIGHTS + ": it is a raw pickle"),
    "legacy.pt": (b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02", "a corrupt legacy torch"),
    "other.zip": (_zip({"x.txt": b"y"}), NOT_WEIGHTS + ": it is a zip archive"),
    "empty.zip": (_zip({}), NOT_WEIGHTS),
    "short.safetensors": (b"\x10\x00\x00", "is not a valid safetensors file"),
    "huge.safetensors": (
        _safetensors_header({"a": 1}, length=2**62),
        "is not a valid safetensors file: its header length",
    ),
    "notjson.safetensors": (struct.pack("<Q", 10) + b"{not json}", "header is not JSON"),
    "list.safetensors": (_safetensors_header([1, 2]), "header is not a JSON object"),
    "offsets.safetensors": (
        _safetensors_header({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 999]}}),
        "tensor 'w' lies outside the file",
    ),
    "dtype.safetensors": (
        _safetensors_header({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        "tensor 'w' has no valid dtype, shape and data_offsets",
    ),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_weights_are_one_line_input_errors(models_py, tmp_path: Path, name: str) -> None:
    data, expected = GARBAGE[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ModelLoadError) as info:
        load_target(f"{models_py}:build", weights=path, n_classes=3)
    message = str(info.value)
    assert expected in message and "\n" not in message, message
    assert name in message and "Error:" not in message  # no torch exception names


def test_a_truncated_torch_zip_is_named(models_py, tmp_path: Path, net) -> None:
    path = tmp_path / "trunc.pt"
    path.write_bytes(_torch_zip(net)[:300])
    with pytest.raises(ModelLoadError, match=NOT_WEIGHTS + ": it is a corrupt zip archive"):
        load_target(f"{models_py}:build", weights=path, n_classes=3)


def test_a_truncated_safetensors_file_is_named(models_py, tmp_path: Path, net) -> None:
    path = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match="is not a valid safetensors file: tensor"):
        load_target(f"{models_py}:build", weights=path, n_classes=3)


def test_a_zip_posing_as_torch_with_garbage_data_pkl_is_one_line(models_py, tmp_path: Path):
    path = tmp_path / "fake.pt"
    path.write_bytes(_zip({"fake/data.pkl": b"\x80\x04garbage", "fake/version": b"3\n"}))
    with pytest.raises(AiarmorError) as info:
        load_target(f"{models_py}:build", weights=path, n_classes=3)
    assert "\n" not in str(info.value) and "fake.pt" in str(info.value)


def test_control_characters_in_the_weights_name_are_escaped(models_py, tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b[2J.bin"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError) as info:
        load_target(f"{models_py}:build", weights=path, n_classes=3)
    assert "\x1b" not in str(info.value)


def test_real_weights_still_load(models_py, tmp_path: Path, net) -> None:
    legacy = tmp_path / "legacy.pt"
    torch.save(net.state_dict(), legacy, _use_new_zipfile_serialization=False)
    zipped = tmp_path / "w.pt"
    zipped.write_bytes(_torch_zip(net))
    st = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(st))
    for path in (legacy, zipped, st):
        target = load_target(f"{models_py}:build", weights=path, n_classes=3)
        assert torch.equal(target.module.state_dict()["body.1.weight"], net.body[1].weight)
