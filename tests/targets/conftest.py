"""Shared pieces for the target tests: a user's models.py and tiny seeded inputs."""

import importlib.util
import sys

import numpy as np
import pytest
import torch

MODELS_PY = '''
"""A user's model file, as they would write it."""
import numpy as np
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)
        )

    def forward(self, x):
        return self.body(x)


def build():
    return Net()


def make_scorer():
    def score(x):
        logits = np.asarray(x).reshape(len(x), -1)[:, :3] * 3.0
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return score


def broken():
    raise RuntimeError("factory exploded")


def nothing():
    return 42


ready = Net()
'''


@pytest.fixture(scope="session")
def user_models(tmp_path_factory):
    """MODELS_PY imported from a real file (TorchScript needs the source of Net)."""
    path = tmp_path_factory.mktemp("user") / "aiarmor_test_user_models.py"
    path.write_text(MODELS_PY)
    spec = importlib.util.spec_from_file_location("aiarmor_test_user_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="session")
def make_net(user_models):
    """A factory of the Net of MODELS_PY with seeded random weights, in eval mode."""

    def make(seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        return user_models.Net().eval()

    return make


@pytest.fixture
def net(make_net):
    return make_net()


@pytest.fixture
def models_py(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS_PY)
    return path


@pytest.fixture
def x_images():
    return np.random.default_rng(0).random((12, 1, 4, 4), dtype=np.float32)


def _reference_proba(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """What the original module predicts, computed directly."""
    with torch.no_grad():
        return torch.softmax(module(torch.from_numpy(x)).double(), dim=1).numpy()


@pytest.fixture
def reference_proba():
    return _reference_proba
