"""Pickle-based model files: scanned first, loaded only when clean AND explicitly trusted."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from aiarmor.core.errors import ModelLoadError, UnsafeModelError
from aiarmor.scanning.testing.builders import P2, g, u
from aiarmor.targets import SklearnTarget, TorchTarget, load_target
from aiarmor.targets.pickle_models import _restricted_load, provenance_of

X = np.array([[0.0], [1.0], [0.2], [0.9], [0.1], [0.8]])
Y = np.array([0, 1, 0, 1, 0, 1])


class Custom:
    """A class outside every allowlist (pickled by reference to this test module)."""


def _hostile(canary) -> bytes:
    """os.system('touch canary'), opcode by opcode (never loaded)."""
    return P2 + g("os", "system") + u(f"touch {canary}") + b"\x85R."


@pytest.fixture
def estimator():
    return LogisticRegression().fit(X, Y)


@pytest.mark.parametrize("name", ["evil.pkl", "evil.pt", "evil.joblib"])
def test_hostile_pickle_is_refused_even_with_trust(tmp_path, name):
    canary = tmp_path / "canary"
    path = tmp_path / name
    path.write_bytes(_hostile(canary))
    with pytest.raises(UnsafeModelError) as info:
        load_target(str(path), trust_pickle=True)
    message = str(info.value)
    assert "worst critical" in message and "os.system" in message and "\n" not in message
    assert not canary.exists()


@pytest.mark.parametrize("compress", [0, 3])
def test_clean_joblib_estimator_loads_only_with_trust(tmp_path, estimator, compress):
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path, compress=compress)
    with pytest.raises(UnsafeModelError, match="--trust-pickle"):
        load_target(str(path))
    target = load_target(str(path), trust_pickle=True)
    assert isinstance(target, SklearnTarget)
    assert np.array_equal(target.predict(X), estimator.predict(X))
    prov = provenance_of(target)
    assert prov is not None and prov.loader == "restricted unpickler"
    assert "sklearn.linear_model._logistic.LogisticRegression" in prov.globals
    subject = prov.subject()
    assert subject["trusted_pickle"] is True and subject["scan"]["result"] == "no findings"


def test_whole_torch_module_loads_with_weights_only_and_scanned_classes(tmp_path):
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    path = tmp_path / "whole.pt"
    torch.save(module, path)
    target = load_target(str(path), trust_pickle=True, input_shape=(4,))
    assert isinstance(target, TorchTarget) and target.n_classes == 3
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    assert np.array_equal(target.predict(x), module(torch.from_numpy(x)).argmax(1).numpy())
    prov = provenance_of(target)
    assert prov is not None and "weights_only=True" in prov.loader
    assert "torch.nn.modules.linear.Linear" in prov.globals


def test_unknown_class_is_a_finding_so_refused(tmp_path):
    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(Custom()))
    with pytest.raises(UnsafeModelError, match=r"worst high: .*test_trusted_pickle\.Custom"):
        load_target(str(path), trust_pickle=True)


def test_restricted_unpickler_resolves_only_the_allowed_globals(tmp_path, estimator):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(estimator))
    with pytest.raises(UnsafeModelError, match=r"refusing to resolve 'numpy\._core"):
        _restricted_load(path, {"sklearn.linear_model._logistic.LogisticRegression"})


def test_trusted_pickle_holding_data_is_a_load_error(tmp_path):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    with pytest.raises(ModelLoadError, match="holds a dict"):
        load_target(str(path), trust_pickle=True)
