"""RMIA and LiRA: stronger than the loss baseline at low FPR on memorized records, chance
on a model that never saw the members, deterministic for a seed; and their array kernels."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aiarmor.core import Budget, CheckContext, Severity
from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data.dataset import Dataset
from aiarmor.privacy import MembershipCheck, attach_recipe, membership_inference, recipe_for
from aiarmor.privacy.reference_attacks import (
    lira_offline_scores,
    lira_online_scores,
    reference_masks,
    rmia_scores,
)
from aiarmor.reporting.charts import render_chart_svg
from aiarmor.targets import CallableLabelTarget, CallableTarget, SklearnTarget, TorchTarget

sys.path.insert(0, str(Path(__file__).parent))
from mia_setup import _table, train_mlp


def _attack(target, members, others, pop):
    return membership_inference(target, members, others, train_fn=train_mlp, n_references=4,
                                population=pop, seed=0, n_boot=50)  # fmt: skip


@pytest.fixture(scope="module")
def overfit():
    members, others, pop = _table(200, 1), _table(200, 2), _table(200, 3)
    target = TorchTarget(train_mlp(members.x, members.y, 0), n_classes=4)
    result = _attack(target, members, others, pop)
    return target, members, others, pop, result


@pytest.mark.slow
def test_rmia_and_lira_beat_the_loss_baseline_at_low_fpr(overfit):
    *_, result = overfit
    m = result.metrics
    assert m["loss"].auc > 0.55
    assert m["rmia"].tpr_at_1pct_fpr > m["loss"].tpr_at_1pct_fpr + 0.05
    for attack in ("rmia", "lira_offline", "lira_online"):
        assert m[attack].tpr_at_1pct_fpr > max(m["loss"].tpr_at_1pct_fpr, 0.03), attack
        assert m[attack].auc > m["loss"].auc, attack
    assert result.n_references == 4
    assert result.scores["rmia"].shape == (400,)
    top = result.most_exposed("lira_online", 5)
    assert result.scores["lira_online"][top].min() >= np.median(result.scores["lira_online"])


@pytest.mark.slow
def test_the_attacks_are_deterministic_for_a_seed(overfit):
    target, members, others, pop, result = overfit
    again = _attack(target, members, others, pop)
    for name, scores in result.scores.items():
        np.testing.assert_array_equal(scores, again.scores[name])


@pytest.mark.slow
def test_no_leakage_on_a_model_that_never_saw_the_members():
    fit_on, members, others = _table(200, 4), _table(200, 5), _table(200, 6)
    target = TorchTarget(train_mlp(fit_on.x, fit_on.y, 0), n_classes=4)
    result = membership_inference(
        target, members, others, train_fn=train_mlp, n_references=2, seed=1, n_boot=100
    )
    for name, m in result.metrics.items():
        assert m.auc_ci[0] < 0.5 < m.auc_ci[1] + 0.03, name
        assert abs(m.auc - 0.5) < 0.1, name


def test_reference_masks_balance_in_and_out():
    rng = np.random.default_rng(0)
    masks = reference_masks(50, 4, 20, rng)
    assert masks.shape == (4, 50) and (masks.sum(axis=0) == 2).all()
    single = reference_masks(50, 1, 20, rng)
    assert not single[0, :20].any() and single[0, 20:].sum() == 25
    with pytest.raises(ConfigError, match="beyond the audited"):
        reference_masks(20, 1, 20, rng)


def test_rmia_and_lira_kernels_rank_a_memorized_record_first():
    # record 0: references (OUT) are unsure, the target is sure -> the most member-like
    p_refs = np.array([[0.2, 0.9, 0.8], [0.9, 0.95, 0.85]])
    masks = np.array([[False, False, False], [True, True, True]])
    p_target = np.array([0.9, 0.9, 0.8])
    rmia = rmia_scores(p_target, p_refs, masks, np.arange(3), gamma=1.0)
    assert rmia.argmax() == 0 and (rmia >= 0).all() and (rmia <= 1).all()
    phi_refs, phi_t = np.log(p_refs / (1 - p_refs)), np.log(p_target / (1 - p_target))
    assert lira_offline_scores(phi_t, phi_refs, masks).argmax() == 0
    assert lira_online_scores(phi_t, phi_refs, masks).argmax() == 0


def test_bad_input_is_a_one_line_error():
    members, others = _table(20, 1), _table(20, 2)
    target = TorchTarget(train_mlp(members.x[:4], members.y[:4], 0), n_classes=4)
    with pytest.raises(ConfigError, match="positive integer"):
        membership_inference(target, members, others, train_fn=train_mlp, n_references=0)
    wide = Dataset(x=np.zeros((5, 3), np.float32), y=np.zeros(5, np.int64))
    with pytest.raises(DataError, match="shape"):
        membership_inference(target, members, wide, train_fn=train_mlp)
    labels_only = CallableLabelTarget(lambda x: np.zeros(len(x), np.int64), n_classes=4)
    with pytest.raises(ConfigError, match="probabilities"):
        membership_inference(labels_only, members, others, train_fn=train_mlp)
    with pytest.raises(ConfigError, match="callable"):
        attach_recipe(target, "not a function")


def test_recipes_are_found_or_explained():
    from sklearn.linear_model import LogisticRegression

    data = _table(60, 7)
    sk = SklearnTarget(LogisticRegression().fit(data.x, data.y))
    assert recipe_for(sk)[0] is not None
    torch_target = TorchTarget(train_mlp(data.x, data.y, 0), n_classes=4)
    fn, reason = recipe_for(torch_target)
    assert fn is None and "train_fn" in reason
    attach_recipe(torch_target, train_mlp)
    assert recipe_for(torch_target)[0] is train_mlp


def _ctx(target, train, test, budget=Budget.QUICK, **params):
    return CheckContext(target=target, data=test, train=train,
                        params=MembershipCheck.resolve_params(params), budget=budget, seed=0,
                        check_id=MembershipCheck.id)  # fmt: skip


@pytest.mark.slow
def test_the_check_runs_rmia_and_lira_with_an_attached_recipe():
    train, test = _table(240, 8), _table(240, 9)
    target = attach_recipe(TorchTarget(train_mlp(train.x, train.y, 0), n_classes=4), train_mlp)
    out = MembershipCheck().run(_ctx(target, train.subset(np.arange(240)), test,
                                     reference_models=2))  # fmt: skip
    assert out.metrics["reference_models"] == 2
    assert out.metrics["rmia.tpr_at_1pct_fpr"] > out.metrics["tpr_at_1pct_fpr"]
    assert {"lira_offline.auc", "lira_online.tpr_at_01pct_fpr"} <= set(out.metrics)
    assert out.charts[0].kind == "roc" and len(out.charts[0].series) == 5
    svg = render_chart_svg(out.charts[0])
    assert svg.startswith("<svg") and "LiRA online" in svg
    leak = [f for f in out.findings if f.severity >= Severity.MEDIUM]
    assert leak and all("ATLAS:AML.T0024.000" in f.standards for f in leak)
    assert any("most_exposed_train_rows" in f.evidence for f in leak)


def test_the_check_explains_why_a_black_box_gets_the_baseline_only():
    train, test = _table(60, 10), _table(60, 11)
    model = train_mlp(train.x, train.y, 0)
    black_box = CallableTarget(
        lambda x: torch.softmax(model(torch.from_numpy(x)), 1).detach().numpy(),
        n_classes=4,
        name="remote",
    )
    out = MembershipCheck().run(_ctx(black_box, train, test))
    assert out.metrics["reference_models"] == 0 and "rmia.auc" not in out.metrics
    (info,) = [f for f in out.findings if f.severity == Severity.INFO]
    assert "no training recipe for remote" in info.detail
