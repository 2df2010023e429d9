"""Suite-wide fixtures.

Every test under tests/scanning and tests/regression runs with all deserializers replaced by
functions that raise: the scanner (and signing/encryption beside it) must never load what it
inspects, so any code path that calls pickle/torch/joblib/numpy loading fails the test.
"""

from __future__ import annotations

import os
import pickle

import joblib
import numpy as np
import pytest
import torch

_NO_DESERIALIZATION_DIRS = {"scanning", "regression"}

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one intra-op thread per xdist worker: two workers x two threads on two cores made the
    # many tiny models of the suite spin-wait on each other (a 100-step MLP fit: 0.8 s vs 14 s)
    torch.set_num_threads(1)


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the scanner must never deserialize")


@pytest.fixture(autouse=True)
def _no_deserialization(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _NO_DESERIALIZATION_DIRS & set(request.node.path.parent.parts[-1:]):
        return
    for module, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (torch, "load"),
        (joblib, "load"),
        (np, "load"),
    ]:
        monkeypatch.setattr(module, name, _refuse)
