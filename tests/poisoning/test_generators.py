"""Poisoning generators poison exactly the requested rate, where and how they say."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import CheckError, ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.poisoning import badnets, badnets_trigger, blended, label_flip, penultimate
from aiarmor.targets import TorchTarget


def _images(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return Dataset(
        x=rng.random((n, 1, 8, 8), dtype=np.float32) * 0.5,
        y=rng.integers(0, 4, n).astype(np.int64),
        name="imgs",
    )


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(0.01, 0.5), seed=st.integers(0, 1000))
def test_badnets_poisons_exactly_the_rate_and_relabels(rate, seed):
    ds = _images()
    out = badnets(ds, rate=rate, target_class=2, seed=seed)
    k = round(rate * len(ds))
    assert out.poisoned.sum() == k
    assert (out.data.y[out.poisoned] == 2).all()
    assert (ds.y[out.poisoned] != 2).all()  # taken from other classes
    clean = ~out.poisoned
    np.testing.assert_array_equal(out.data.x[clean], ds.x[clean])
    np.testing.assert_array_equal(out.data.y[clean], ds.y[clean])
    patch = out.data.x[out.poisoned][:, :, -3:, -3:]
    assert set(np.unique(patch)) <= {0.0, 1.0}


def test_trigger_is_a_checkerboard_in_the_corner():
    x = np.full((1, 1, 5, 5), 0.5, dtype=np.float32)
    t = badnets_trigger(x, size=2, value=1.0)[0, 0]
    np.testing.assert_array_equal(t[3:, 3:], [[1.0, 0.0], [0.0, 1.0]])
    assert (t[:3] == 0.5).all()
    with pytest.raises(ConfigError, match="does not fit"):
        badnets_trigger(x, size=6)
    with pytest.raises(ConfigError, match="images"):
        badnets_trigger(np.zeros((2, 4), np.float32))


def test_blended_mixes_a_fixed_pattern():
    ds = _images()
    out = blended(ds, rate=0.1, target_class=0, alpha=0.3, seed=5)
    idx = np.flatnonzero(out.poisoned)
    diff = (out.data.x[idx] - 0.7 * ds.x[idx]) / 0.3  # recovers the same pattern everywhere
    np.testing.assert_allclose(diff, np.broadcast_to(diff[0], diff.shape), atol=1e-5)
    assert (out.data.y[idx] == 0).all()


def test_label_flip_changes_every_chosen_label_and_nothing_else():
    ds = _images()
    out = label_flip(ds, rate=0.2, seed=3)
    assert out.poisoned.sum() == 40 and out.target_class is None
    assert (out.data.y[out.poisoned] != ds.y[out.poisoned]).all()
    assert (out.data.y[~out.poisoned] == ds.y[~out.poisoned]).all()
    assert out.data.y.max() < 4


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1])
def test_bad_rates_are_rejected(rate):
    with pytest.raises(ConfigError, match="rate"):
        badnets(_images(), rate=rate)


def test_penultimate_reads_the_input_of_the_last_linear_layer():
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 7), torch.nn.ReLU())
    model = torch.nn.Sequential(body, torch.nn.Linear(7, 4)).eval()
    target = TorchTarget(model, n_classes=4)
    x = _images(10).x
    feats = penultimate(target, x, batch_size=3)
    with torch.no_grad():
        expected = body(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    conv = TorchTarget(torch.nn.Conv2d(1, 4, 8).eval(), n_classes=4)
    with pytest.raises(CheckError, match=r"no nn\.Linear"):
        penultimate(conv, x)
