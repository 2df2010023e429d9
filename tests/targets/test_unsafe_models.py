"""Pickle-based and tampered model files are refused, decided from bytes, never deserialized."""

import io
import pickle
import tarfile
import warnings
import zipfile

import joblib
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from aiarmor.core.errors import ModelLoadError, UnsafeModelError
from aiarmor.targets import load_target
from aiarmor.targets.formats import ModelFormat, sniff_model_file


def _evil(canary, protocol_header: bytes = b"") -> bytes:
    """A pickle calling os.system('touch canary'), written opcode by opcode (never loaded)."""
    command = f"touch {canary}"
    return protocol_header + b"cos\nsystem\n(S" + repr(command).encode() + b"\ntR."


def _torch_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _fitted():
    return LogisticRegression().fit([[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1])


@pytest.fixture
def pickle_files(tmp_path):
    """Pickle-based model files of every common kind, keyed by a readable id."""
    canary = tmp_path / "canary"
    module = torch.nn.Linear(2, 2)
    files = {
        "raw-proto2": _write(tmp_path, "a.pkl", _evil(canary, b"\x80\x02")),
        "raw-proto0": _write(tmp_path, "b.pt", _evil(canary)),
        "raw-proto1": _write(tmp_path, "c.bin", pickle.dumps({"w": [1.0]}, protocol=1)),
        "torch-zip": _write(tmp_path, "d.pt", _torch_zip({"m/data.pkl": _evil(canary)})),
        "zip-of-pkl": _write(tmp_path, "e.zip", _torch_zip({"model.pkl": b"\x80\x04."})),
    }
    for name, compress in [("joblib", 0), ("joblib-zlib", 3), ("joblib-gzip", ("gzip", 3))]:
        files[name] = tmp_path / f"{name}.joblib"
        joblib.dump(_fitted(), files[name], compress=compress)
    files["torch-save-module"] = tmp_path / "whole.pt"
    torch.save(module, files["torch-save-module"])
    files["torch-legacy"] = tmp_path / "legacy.pt"
    torch.save(module.state_dict(), files["torch-legacy"], _use_new_zipfile_serialization=False)
    files["torch-legacy-tar"] = _legacy_tar(tmp_path / "old.tar")
    return files, canary


def _legacy_tar(path):
    with tarfile.open(path, "w") as archive:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"\x80\x02"))
    return path


def test_every_pickle_based_format_is_refused(pickle_files):
    files, canary = pickle_files
    for kind, path in files.items():
        with pytest.raises(UnsafeModelError, match="pickle-based") as info:
            load_target(str(path))
        message = str(info.value)
        assert "`aiarmor scan` found" in message and "\n" not in message, kind
        if "found nothing" in message:  # clean: refused until the user trusts it
            assert "unpickling runs arbitrary code" in message and "--trust-pickle" in message
    assert not canary.exists()


def test_detection_never_deserializes(pickle_files, monkeypatch):
    files, canary = pickle_files

    def forbidden(*args, **kwargs):
        raise AssertionError("a loader was called while detecting the format")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(joblib, "load", forbidden)
    for path in files.values():
        assert sniff_model_file(path).format is ModelFormat.PICKLE
        with pytest.raises(UnsafeModelError):
            load_target(str(path))
    assert not canary.exists()


@pytest.mark.parametrize("header", [b"", b"\x80\x02"])
def test_weights_with_an_os_system_global_are_refused(models_py, tmp_path, header):
    canary = tmp_path / "canary"
    raw = _write(tmp_path, "raw.pt", _evil(canary, header))
    entries = {"w/data.pkl": _evil(canary, b"\x80\x02"), "w/version": b"3\n"}
    zipped = _write(tmp_path, "zip.pt", _torch_zip(entries))
    for weights in (raw, zipped):
        with pytest.raises(UnsafeModelError, match=r"global os\.system") as info:
            load_target(f"{models_py}:build", weights=weights, n_classes=3)
        assert str(info.value).startswith(f"refusing to load weights {weights}")
    assert not canary.exists()


def test_weights_holding_a_whole_module_are_refused(models_py, tmp_path):
    weights = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), weights)
    with pytest.raises(UnsafeModelError, match=r"global torch\.nn\.modules\.linear\.Linear"):
        load_target(f"{models_py}:build", weights=weights, n_classes=3)


def test_corrupt_weights_are_a_load_error(models_py, tmp_path):
    weights = _write(tmp_path, "w.pt", b"PK\x03\x04 truncated")
    with pytest.raises(ModelLoadError, match=r"w\.pt is neither .* it is a corrupt zip archive"):
        load_target(f"{models_py}:build", weights=weights, n_classes=3)


def test_zip_with_duplicate_members_is_suspicious(tmp_path):
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr("m/archive_format", b"pt2")
        archive.writestr("m/archive_format", b"pt2")
    path = _write(tmp_path, "dup.pt2", buffer.getvalue())
    with pytest.raises(UnsafeModelError, match="listing the same member twice"):
        load_target(str(path))


def test_zip_with_data_in_front_is_suspicious(tmp_path):
    path = _write(tmp_path, "poly.pt", b"junk" + _torch_zip({"m/data.pkl": b"."}))
    with pytest.raises(UnsafeModelError, match="other data in front"):
        load_target(str(path))


@pytest.fixture(scope="module")
def pt2_members(tmp_path_factory):
    """The members of a genuine, tiny torch.export archive (with a dynamic batch)."""
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    program = torch.export.export(
        module, (torch.rand(3, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path_factory.mktemp("pt2") / "m.pt2"
    torch.export.save(program, path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _tampered(tmp_path, members: dict[str, bytes]):
    return _write(tmp_path, "t.pt2", _torch_zip(members))


def test_genuine_pt2_members_rezipped_still_load(tmp_path, pt2_members):
    target = load_target(str(_tampered(tmp_path, pt2_members)))
    assert target.n_classes == 2  # the tampering tests below start from a loadable archive


def test_pt2_with_compiled_code_is_refused(tmp_path, pt2_members):
    members = {**pt2_members, "m/data/aotinductor/model/model.so": b"\x7fELF"}
    with pytest.raises(UnsafeModelError, match="unexpected member 'data/aotinductor"):
        load_target(str(_tampered(tmp_path, members)))


def test_pt2_with_pickled_weights_is_refused(tmp_path, pt2_members):
    name = "m/data/weights/model_weights_config.json"
    members = {
        **pt2_members,
        name: pt2_members[name].replace(b'"use_pickle": false', b'"use_pickle": true'),
    }
    with pytest.raises(UnsafeModelError, match="stores pickled tensors or objects"):
        load_target(str(_tampered(tmp_path, members)))


def test_pt2_with_pickled_sample_inputs_is_refused(tmp_path, pt2_members):
    canary = tmp_path / "canary"
    evil = _torch_zip({"model/data.pkl": _evil(canary, b"\x80\x02")})
    members = {**pt2_members, "m/data/sample_inputs/model.pt": evil}
    with pytest.raises(UnsafeModelError, match="sample inputs hold objects beyond tensors"):
        load_target(str(_tampered(tmp_path, members)))
    assert not canary.exists()


def test_pt2_graph_that_imports_modules_by_name_is_refused(tmp_path, pt2_members):
    members = {**pt2_members, "m/models/model.json": b'{"x": "{\\"__enum__\\": true}"}'}
    with pytest.raises(UnsafeModelError, match="import Python modules by name"):
        load_target(str(_tampered(tmp_path, members)))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (pickle.dumps([1, 2], protocol=0), ModelFormat.PICKLE),
        (pickle.dumps([1, 2], protocol=5), ModelFormat.PICKLE),
        (b"\x93NUMPY\x01\x00", ModelFormat.NUMPY),
        (b"hello, this is text\n", ModelFormat.UNKNOWN),
        (b"", ModelFormat.UNKNOWN),
    ],
)
def test_sniffing_small_files(tmp_path, data, expected):
    assert sniff_model_file(_write(tmp_path, "f.bin", data)).format is expected
