"""TorchTarget: eval mode, frozen parameters, input gradients, normalization, query counts."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aiarmor.core.errors import ConfigError, ModelLoadError
from aiarmor.targets import DifferentiableTarget, TorchTarget, capabilities


def test_training_module_is_switched_to_eval_with_a_warning(make_net):
    module = make_net().train()
    with pytest.warns(UserWarning, match="was in training mode") as record:
        target = TorchTarget(module, n_classes=3)
    assert record[0].filename == __file__  # stacklevel points at the caller
    assert not any(m.training for m in target.module.modules())


def test_a_submodule_left_training_is_caught(make_net):
    module = make_net()
    module.body[3].train()  # the dropout layer only
    with pytest.warns(UserWarning, match="training mode"):
        TorchTarget(module, n_classes=3)
    assert not module.body[3].training


def test_eval_module_gives_no_warning(net):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TorchTarget(net, n_classes=3)


def test_parameters_are_frozen_and_gradients_flow_to_the_input(net):
    target = TorchTarget(net, n_classes=3)
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    target.logits(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_is_a_differentiable_target(net):
    target = TorchTarget(net, n_classes=3, bounds=(0, 1))
    assert isinstance(target, DifferentiableTarget)
    assert capabilities(target) == ("labels", "scores", "gradients")
    assert target.bounds == (0.0, 1.0)


def test_scalar_normalization_is_applied_inside_logits(net):
    target = TorchTarget(net, n_classes=3, mean=0.5, std=0.25)
    x = torch.rand(3, 1, 4, 4)
    torch.testing.assert_close(target.logits(x), net((x - 0.5) / 0.25))


def test_per_channel_normalization_broadcasts_over_axis_1():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).eval()
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    target = TorchTarget(module, n_classes=2, mean=mean, std=std)
    x = torch.rand(4, 3, 2, 2)
    shape = (1, 3, 1, 1)
    expected = module((x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape))
    torch.testing.assert_close(target.logits(x), expected)
    with pytest.raises(ValueError, match="one value per channel"):
        target.logits(torch.rand(4, 2, 2, 3))


def test_bad_normalization_and_batch_size_are_config_errors(net):
    with pytest.raises(ConfigError, match="std must be positive"):
        TorchTarget(net, n_classes=3, std=0.0)
    with pytest.raises(ConfigError, match="batch_size"):
        TorchTarget(net, n_classes=3, batch_size=0)
    with pytest.raises(ConfigError, match="bounds must be finite with LO < HI"):
        TorchTarget(net, n_classes=3, bounds=(1.0, 0.0))


def test_queries_count_rows_across_batches(net, x_images):
    target = TorchTarget(net, n_classes=3, batch_size=5)
    target.predict_proba(x_images)
    assert target.queries == 12
    target.predict(x_images[:4])
    assert target.queries == 16
    target.logits(torch.from_numpy(x_images[:2]))
    assert target.queries == 18


def test_predictions_match_the_module(net, x_images, reference_proba):
    target = TorchTarget(net, n_classes=3, batch_size=5)
    np.testing.assert_allclose(target.predict_proba(x_images), reference_proba(net, x_images))
    assert target.predict(x_images).dtype == np.int64


def test_numeric_input_is_cast_and_non_numeric_input_fails_as_the_model_would(net, x_images):
    target = TorchTarget(net, n_classes=3)
    as_float64 = target.predict_proba(x_images.astype(np.float64))
    np.testing.assert_allclose(as_float64, target.predict_proba(x_images), rtol=1e-6)
    with pytest.raises(TypeError):
        target.predict_proba(np.full((2, 1, 4, 4), "a"))


def test_nan_input_is_passed_through_unvalidated(net):
    out = TorchTarget(net, n_classes=3).predict_proba(np.full((1, 1, 4, 4), np.nan, np.float32))
    assert np.isnan(out).all()


def test_empty_batch(net):
    assert TorchTarget(net, n_classes=3).predict_proba(np.zeros((0, 1, 4, 4))).shape == (0, 3)


def test_n_classes_is_inferred_from_a_dry_run_that_is_not_a_query(net):
    target = TorchTarget(net, input_shape=(1, 4, 4))
    assert target.n_classes == 3 and target.queries == 0


def test_n_classes_needs_a_value_or_an_input_shape(net):
    with pytest.raises(ConfigError, match="pass n_classes, or input_shape"):
        TorchTarget(net)
    with pytest.raises(ModelLoadError, match="dry forward pass on shape"):
        TorchTarget(net, input_shape=(5,))


def test_wrong_n_classes_is_caught_on_the_first_call(net, x_images):
    target = TorchTarget(net, n_classes=4)
    with pytest.raises(ValueError, match=r"logits of shape \(12, 3\); expected \(n, 4\)"):
        target.predict(x_images)


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(
        np.float32,
        st.tuples(st.integers(1, 9), st.just(1), st.just(4), st.just(4)),
        elements=st.floats(-50, 50, width=32),
    ),
    batch_size=st.integers(1, 8),
)
def test_proba_rows_sum_to_one_and_predict_is_argmax(x, batch_size):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4)).eval()
    target = TorchTarget(module, n_classes=4, batch_size=batch_size)
    proba = target.predict_proba(x)
    assert proba.shape == (len(x), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(target.predict(x), proba.argmax(axis=1))
    assert target.queries == 2 * len(x)


def test_fixed_batch_module_gets_exact_chunks_and_keeps_gradients(net, x_images, reference_proba):
    expected = reference_proba(net, x_images[:7])
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    target = TorchTarget(net, n_classes=3, fixed_batch=4)
    np.testing.assert_allclose(target.predict_proba(x_images[:7]), expected)
    assert seen == [4, 4] and target.queries == 7
    x = torch.from_numpy(x_images[:3]).requires_grad_(True)
    target.logits(x).sum().backward()
    assert x.grad is not None and x.grad.shape == (3, 1, 4, 4)
    assert target.logits(torch.zeros(0, 1, 4, 4)).shape == (0, 3)
