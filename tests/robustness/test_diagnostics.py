"""Masking diagnostics fire on a model built to mask gradients, stay quiet on a plain one."""

import dataclasses

import pytest
import torch

from aiarmor.robustness.diagnostics import diagnose_masking
from aiarmor.robustness.evaluation import evaluate_robustness
from aiarmor.targets import TorchTarget

from .conftest import Noisy, Quantized


@pytest.fixture(scope="module")
def trained():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(120, 8, generator=gen)
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), x, y


def _diagnose(module, x, y, budget="quick"):
    target = TorchTarget(module.eval(), n_classes=2, bounds=(0.0, 1.0))
    ev = evaluate_robustness(
        target, x, y, norm="linf", epsilons=[0.05, 0.1], budget=budget, seed=0, min_norm_samples=0
    )
    return ev, diagnose_masking(target, x, y, ev, seed=0), target


def test_plain_model_raises_no_flag(trained):
    model, x, y = trained
    _, diag, _ = _diagnose(model, x, y)
    assert diag.fired == ()
    assert diag.get("zero_gradients").value == 0.0
    assert diag.get("unbounded_attack").value < 0.05
    assert diag.get("single_step").ran and diag.queries > 0


def test_quantization_layer_is_flagged(trained):
    model, x, y = trained
    ev, diag, _ = _diagnose(Quantized(model), x, y)
    fired = {d.name for d in diag.fired}
    assert {"zero_gradients", "unbounded_attack"} <= fired
    assert diag.get("zero_gradients").value == 1.0
    assert diag.get("unbounded_attack").value > 0.5
    assert "black_box" in fired  # a gradient-free attack beats the stuck white-box ones
    assert ev.points[-1].accuracy > 0.5  # what masking does: the white-box number looks robust


def test_single_step_beating_the_ensemble_is_flagged(trained):
    model, x, y = trained
    ev, _, target = _diagnose(model, x, y)
    # pretend the multi-step ensemble failed everywhere: FGSM alone now beats it
    failed = dataclasses.replace(
        ev, points=tuple(dataclasses.replace(p, robust=ev.clean_correct) for p in ev.points)
    )
    diag = diagnose_masking(target, x, y, failed, seed=0)
    single = diag.get("single_step")
    assert single.fired and single.value >= 2
    assert set(single.evidence["per_epsilon"]) == {"0.05", "0.1"}


def test_randomized_model_is_reported(trained):
    model, x, y = trained
    ev, diag, _ = _diagnose(Noisy(model), x[:40], y[:40])
    assert ev.randomized
    assert diag.get("randomized").fired and diag.get("randomized").value == ev.eot_samples


def test_square_agrees_with_white_box_on_a_plain_model(trained):
    model, x, y = trained
    _, diag, _ = _diagnose(model, x, y)
    assert diag.get("black_box").ran and not diag.get("black_box").fired
