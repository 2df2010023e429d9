"""Contract tests: every registered attack, the attack registry and the evasion budgets.

Every attack registers by name, declares the target capability it needs, shows its settings in
its repr, and through ``run_attack`` (the only way a result is produced) keeps its output in the
ball and the bounds with the input's shape and dtype. Every budget names registered attacks
with valid settings, and an attack added to the registry and a budget is used by the audit's
evaluation under its registered name.
"""

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from aiarmor.core import Budget, Capability, ConfigError, RegistryError
from aiarmor.robustness import budgets
from aiarmor.robustness.attacks.base import Attack, run_attack
from aiarmor.robustness.attacks.registry import (
    build_attack,
    get_attack,
    register_attack,
    registered_attacks,
    unregister_attack,
)
from aiarmor.robustness.budgets import EVASION_BUDGETS, AttackStep, EvasionBudget
from aiarmor.robustness.evaluation import ensemble, evaluate_robustness
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget
from aiarmor.targets.base import ACCESS_LEVELS

NAMES = sorted(registered_attacks())
CHEAP = {"steps": 5, "n_queries": 40, "max_queries": 200, "max_iter": 4, "init_evals": 10,
         "max_evals": 50, "init_trials": 20, "restarts": 1, "n_targets": 1}  # fmt: skip
"""Small settings so every attack runs in well under a second."""


def _target():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    return TorchTarget(model, n_classes=3, bounds=(0.0, 1.0))


def _cheap(name):
    spec = get_attack(name)
    return spec.build(**{k: v for k, v in CHEAP.items() if k in spec.settings
                         and k not in spec.preset})  # fmt: skip


def test_the_builtin_attacks_are_registered():
    assert {"APGD-CE", "APGD-T", "APGD-DLR", "FMN", "Square", "HopSkipJump", "PGD"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_attack_is_documented_and_declares_a_target_capability(name):
    spec = get_attack(name)
    assert spec.summary and isinstance(spec.needs, Capability) and spec.needs.about == "target"
    attack = spec.build()
    assert repr(attack).startswith(f"{spec.cls.__name__}(")
    for setting in spec.settings:
        assert f"{setting}=" in repr(attack)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("norm", list(Norm))
def test_attack_output_stays_in_ball_and_bounds(name, norm):
    target = _target()
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.as_tensor(target.predict(x.numpy()))  # all clean-correct
    threat = ThreatModel(norm, 0.3 if norm is Norm.LINF else 1.0, (0.0, 1.0))
    res = run_attack(_cheap(name), target, x, y, threat, seed=0)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert bool(threat.contains(x, res.x_adv).all())
    fooled = torch.as_tensor(target.predict(res.x_adv.numpy())) != y
    assert torch.equal(res.success, fooled)  # judged by the framework, not the attack


def test_registry_rejects_duplicates_unknown_names_and_bad_settings():
    with pytest.raises(RegistryError, match="already registered"):
        register_attack("APGD-CE", get_attack("APGD-DLR").cls, loss="dlr")
    register_attack("APGD-CE", get_attack("APGD-CE").cls, loss="ce")  # the same: accepted
    with pytest.raises(RegistryError, match="unknown attack"):
        get_attack("APGD-XX")
    with pytest.raises(ConfigError, match="unknown setting"):
        build_attack("Square", stepz=3)
    with pytest.raises(ConfigError, match="define"):
        build_attack("APGD-T", targeted=False)
    with pytest.raises(RegistryError, match="unknown preset"):
        register_attack("t.bad", get_attack("PGD").cls, lossy="ce")


@pytest.mark.parametrize("budget", list(Budget))
def test_every_budget_names_registered_attacks_the_tier_can_run(budget):
    plan = EVASION_BUDGETS[budget]
    for capability, steps in plan.ensembles:
        offered = ACCESS_LEVELS[: ACCESS_LEVELS.index(capability) + 1]
        for step in steps:
            for n_classes in (2, 10):
                attack = step.build(n_classes, eot_samples=3)
                assert attack.needs in offered, (budget, step.attack)
    for step in (plan.min_norm, plan.black_box_probe):
        step.build(10)


@dataclass(frozen=True, kw_only=True)
class Shift(Attack):
    """Moves every input by the full epsilon along the first axis (a toy gradient-free attack)."""

    sign: float = 1.0
    needs: ClassVar[Capability] = Capability.LABELS

    def perturb(self, target, x, y, threat, generator):
        return x + self.sign * threat.epsilon


def test_an_attack_added_to_the_registry_and_a_budget_is_used_by_name(monkeypatch):
    register_attack("Shift", Shift)
    try:
        plan = EvasionBudget(
            ensembles=((Capability.LABELS, (AttackStep("Shift", {"sign": -1.0}),)),),
            min_norm=EVASION_BUDGETS[Budget.QUICK].min_norm,
            min_norm_points=0,
            eot_samples=1,
            black_box_probe=EVASION_BUDGETS[Budget.QUICK].black_box_probe,
        )
        monkeypatch.setitem(budgets.EVASION_BUDGETS, Budget.QUICK, plan)
        target = _target()
        assert [a.name for a in ensemble(target, "quick")] == ["Shift"]
        x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(2))
        y = torch.as_tensor(target.predict(x.numpy()))
        ev = evaluate_robustness(target, x, y, norm="linf", epsilons=[0.5], budget="quick")
        assert ev.attack_names == ("Shift",) and ev.attacks[0].startswith("Shift(sign=-1.0")
        assert list(ev.points[0].fooled_by) == ["Shift"] and ev.points[0].fooled_by["Shift"] > 0
    finally:
        unregister_attack("Shift")


def test_run_attack_refuses_a_target_without_the_needed_capability():
    class LabelsOnly:
        name, n_classes, bounds, queries = "l", 3, (0.0, 1.0), 0

        def predict(self, x):
            return torch.zeros(len(x), dtype=torch.long).numpy()

    with pytest.raises(ConfigError, match="needs a target with gradients"):
        run_attack(
            build_attack("APGD-CE"),
            LabelsOnly(),
            torch.rand(2, 4),
            torch.zeros(2),
            ThreatModel(Norm.LINF, 0.1),
        )
