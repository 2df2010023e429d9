"""Reference-model membership inference: RMIA and LiRA (offline and online).

Both attacks ask how the target's confidence on a record compares with the confidence of
*reference models* trained the same way (the user's recipe, :mod:`aiarmor.privacy.recipes`)
on random halves of a population. Bookkeeping follows Carlini et al.: the population is the
audited candidates (members and non-members of the target) plus optional extra records; with
``k >= 2`` reference models every population record is IN the training set of exactly
``k // 2`` of them (balanced masks), so each candidate has IN and OUT signals; with a single
reference model all candidates are kept OUT of it (it trains on a random half of the extra
records), so the offline attacks still apply.

* **RMIA** (Zarifzadeh et al., ICML 2024): the likelihood ratio ``Pr(x|target) / Pr(x)`` of the
  true-class probability, where ``Pr(x)`` averages the reference models (IN and OUT halves;
  with OUT models only, the paper's offline approximation ``((1+a) mean_out + (1-a)) / 2``),
  compared pairwise with population records ``z``: the score is the fraction of ``z`` whose
  ratio the record beats by the factor ``gamma``.
* **LiRA** (Carlini et al., S&P 2022) on the logit-scaled confidence ``log p_y - log(1-p_y)``:
  offline, how many standard deviations the target's value lies above the OUT models' mean;
  online, the Gaussian log-likelihood ratio of IN versus OUT. With fewer than 64 reference
  models the variance is pooled over all records (the paper's fixed-variance variant).

:func:`membership_inference` runs everything and returns a frozen
:class:`MembershipAttackResult` with the per-record scores of every attack (and the loss
baseline), so callers can see which records leak most.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data.dataset import Dataset
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics
from aiarmor.privacy.recipes import TrainFn, score_model

_TINY = 1e-30
_MIN_STD = 0.05
"""Floor of the LiRA standard deviation (logit units), for degenerate reference signals."""
_Z_MAX = 2000
"""Population records ``z`` RMIA compares against (sampled)."""


@dataclass(frozen=True, slots=True)
class MembershipAttackResult:
    """Per-record scores and metrics of the membership attacks on one target."""

    labels: np.ndarray
    """1 for the members, 0 for the non-members (members first, in the order given)."""
    scores: Mapping[str, np.ndarray]
    """Attack name (``loss``, ``rmia``, ``lira_offline``, ``lira_online``) -> per-record
    score, higher meaning "more likely a member", aligned with ``labels``."""
    metrics: Mapping[str, MembershipMetrics]
    """Attack name -> AUC, TPR at low FPR and their bootstrap intervals."""
    n_references: int
    """Reference models trained (the attacks' training cost)."""
    reference_forward_passes: int
    """Records sent through reference models."""

    def most_exposed(self, attack: str = "rmia", k: int = 10) -> np.ndarray:
        """Indices (into the members) of the ``k`` members the attack is surest about."""
        if attack not in self.scores:
            raise ConfigError(f"unknown attack {attack!r} (have: {', '.join(self.scores)})")
        n_members = int(self.labels.sum())
        order = np.argsort(-self.scores[attack][:n_members], kind="stable")
        exposed: np.ndarray = order[:k]
        return exposed


def true_class_proba(model: object, x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Each record's probability matrix (float64, ``(n, n_classes)``) from ``model``."""
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)  # type: ignore[attr-defined]
    classes = getattr(model, "classes", None)
    if proba.ndim == 2 and proba.shape[1] != n_classes and classes is not None:
        full = np.zeros((len(x), n_classes))
        full[:, np.asarray(classes, dtype=np.int64)] = proba  # classes missing from its half
        proba = full
    if proba.shape != (len(y), n_classes) or not np.isfinite(proba).all():
        raise DataError("a model returned malformed or non-finite probabilities")
    return proba


def confidence(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The probability of the true label."""
    out: np.ndarray = proba[np.arange(len(y)), y]
    return out


def logit_confidence(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LiRA's logit-scaled confidence ``log p_y - log(sum of the other classes)``, stably."""
    p_true = np.clip(confidence(proba, y), _TINY, None)
    others = proba.copy()
    others[np.arange(len(y)), y] = 0.0
    rest = np.clip(others.sum(axis=1), _TINY, None)
    out: np.ndarray = np.log(p_true) - np.log(rest)
    return out


def reference_masks(
    n_population: int, k: int, candidates: int, rng: np.random.Generator
) -> np.ndarray:
    """Boolean ``(k, n_population)``: which records train which reference model.

    The first ``candidates`` records are the audited ones. With ``k >= 2`` every record is IN
    exactly ``k // 2`` models; with ``k == 1`` the model takes a random half of the population
    drawn from the other records only, so every candidate is OUT.
    """
    if k < 1:
        raise ConfigError(f"reference models must be at least 1, got {k}")
    if k == 1:
        extra = n_population - candidates
        if extra < 2:
            raise ConfigError(
                "one reference model needs population records beyond the audited ones; "
                "give a population or use 2 or more reference models"
            )
        mask = np.zeros((1, n_population), dtype=bool)
        size = min(extra, max(n_population // 2, 2))
        mask[0, candidates + rng.choice(extra, size, replace=False)] = True
        return mask
    order = rng.random((k, n_population)).argsort(axis=0)
    keep: np.ndarray = order < k // 2
    return keep


def rmia_scores(
    p_target: np.ndarray,
    p_refs: np.ndarray,
    masks: np.ndarray,
    z: np.ndarray,
    *,
    gamma: float = 2.0,
    offline_a: float = 0.3,
) -> np.ndarray:
    """RMIA scores of every record from true-class probabilities.

    ``p_target`` is ``(n,)``, ``p_refs`` and ``masks`` are ``(k, n)`` (IN where True);
    ``z`` indexes the records used as population comparisons. The score is the fraction of
    ``z`` with ``ratio(x) / ratio(z) > gamma``, plus a tie-break below ``1/len(z)`` that
    orders records by their own ratio.
    """
    prior = _rmia_prior(p_refs, masks, offline_a)
    ratio = np.clip(p_target, _TINY, None) / np.clip(prior, _TINY, None)
    ref = np.sort(ratio[z])
    beaten = np.searchsorted(ref, ratio / gamma, side="left") / len(ref)
    tie = 0.5 + np.arctan(np.log(ratio)) / np.pi  # in (0, 1): stays inside the bucket
    out: np.ndarray = beaten + tie / (len(ref) + 1)
    return out


def _rmia_prior(p_refs: np.ndarray, masks: np.ndarray, a: float) -> np.ndarray:
    """``Pr(x)``: mean of the IN and OUT averages, or the offline approximation."""
    n_in, n_out = masks.sum(axis=0), (~masks).sum(axis=0)
    mean_in = np.where(masks, p_refs, 0.0).sum(axis=0) / np.maximum(n_in, 1)
    mean_out = np.where(~masks, p_refs, 0.0).sum(axis=0) / np.maximum(n_out, 1)
    offline = ((1.0 + a) * mean_out + (1.0 - a)) / 2.0
    online = (mean_in + mean_out) / 2.0
    prior: np.ndarray = np.where((n_in > 0) & (n_out > 0), online, offline)
    return prior


def lira_offline_scores(
    phi_target: np.ndarray, phi_refs: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """Offline LiRA: standard deviations above the OUT mean (pooled variance)."""
    out = ~masks
    if not out.any(axis=0).all():
        raise ConfigError("offline LiRA needs an OUT reference model for every record")
    mu = np.where(out, phi_refs, 0.0).sum(axis=0) / out.sum(axis=0)
    sigma = _pooled_std(phi_refs, out, mu)
    scores: np.ndarray = (phi_target - mu) / sigma
    return scores


def lira_online_scores(
    phi_target: np.ndarray, phi_refs: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """Online LiRA: Gaussian log-likelihood of IN minus OUT (pooled variances)."""
    if not (masks.any(axis=0) & (~masks).any(axis=0)).all():
        raise ConfigError("online LiRA needs IN and OUT reference models for every record")
    stats = []
    for side in (masks, ~masks):
        mu = np.where(side, phi_refs, 0.0).sum(axis=0) / side.sum(axis=0)
        stats.append((mu, _pooled_std(phi_refs, side, mu)))
    (mu_in, s_in), (mu_out, s_out) = stats
    log_in = -0.5 * ((phi_target - mu_in) / s_in) ** 2 - np.log(s_in)
    log_out = -0.5 * ((phi_target - mu_out) / s_out) ** 2 - np.log(s_out)
    scores: np.ndarray = log_in - log_out
    return scores


def _pooled_std(values: np.ndarray, side: np.ndarray, mu: np.ndarray) -> float:
    """Std of the signals on one side: around each record's mean when records have several,
    else across records (Carlini et al.'s fixed variance)."""
    counts = side.sum(axis=0)
    dev = np.where(side, values - mu, 0.0)
    if (counts >= 2).any():
        within = float(np.sqrt((dev**2).sum() / max(int((counts - 1).clip(0).sum()), 1)))
        if within > _MIN_STD:
            return within
    spread = float(np.std(values[side])) if side.any() else 0.0
    return max(spread, _MIN_STD)


def membership_inference(
    target: object,
    members: Dataset,
    nonmembers: Dataset,
    *,
    train_fn: TrainFn,
    n_references: int = 4,
    population: Dataset | None = None,
    seed: int = 0,
    gamma: float = 2.0,
    offline_a: float = 0.3,
    n_boot: int = 200,
    progress: Callable[[int, int, str], None] | None = None,
) -> MembershipAttackResult:
    """Run the loss baseline, RMIA and LiRA on ``target`` (anything with ``predict_proba``).

    ``members`` were in the target's training set and ``nonmembers`` were not; ``population``
    holds optional extra records from the same distribution (they widen the reference
    models' training sets and are never scored). Reference models are
    ``train_fn(x, y, seed)`` on random halves of members + non-members + population.
    """
    _validate(target, members, nonmembers, population, n_references, gamma, offline_a)
    rng = np.random.default_rng(seed)
    parts = [members, nonmembers] + ([population] if population is not None else [])
    x = np.concatenate([p.x for p in parts])
    y = np.concatenate([p.y for p in parts])
    n_cand, n_classes = len(members) + len(nonmembers), int(target.n_classes)  # type: ignore[attr-defined]
    if int(y.max()) >= n_classes:
        raise DataError(f"labels go up to {int(y.max())} but the target predicts {n_classes}")
    masks = reference_masks(len(y), n_references, n_cand, rng)
    z = np.sort(rng.choice(len(y), min(len(y), _Z_MAX), replace=False))
    scored = np.union1d(np.arange(n_cand), z)
    proba_t = true_class_proba(target, x[scored], y[scored], n_classes)
    p_refs, phi_refs = _reference_signals(train_fn, x, y, masks, scored, n_classes, seed, progress)
    m = masks[:, scored]
    cand = np.searchsorted(scored, np.arange(n_cand))
    p_t, phi_t = confidence(proba_t, y[scored]), logit_confidence(proba_t, y[scored])
    z_local = np.searchsorted(scored, z)
    rmia = rmia_scores(p_t, p_refs, m, z_local, gamma=gamma, offline_a=offline_a)
    scores = {"loss": np.log(np.clip(p_t, 1e-12, None))[cand], "rmia": rmia[cand]}
    scores["lira_offline"] = lira_offline_scores(phi_t[cand], phi_refs[:, cand], m[:, cand])
    if n_references >= 2:
        scores["lira_online"] = lira_online_scores(phi_t[cand], phi_refs[:, cand], m[:, cand])
    labels = np.r_[np.ones(len(members), np.int64), np.zeros(len(nonmembers), np.int64)]
    metrics = {name: membership_metrics(labels, s, rng=np.random.default_rng([seed, i]),
                                        n_boot=n_boot)
               for i, (name, s) in enumerate(scores.items())}  # fmt: skip
    return MembershipAttackResult(labels, scores, metrics, n_references,
                                  n_references * len(scored))  # fmt: skip


def _reference_signals(
    train_fn: TrainFn,
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    scored: np.ndarray,
    n_classes: int,
    seed: int,
    progress: Callable[[int, int, str], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """True-class probability and logit confidence of every scored record per reference."""
    k = len(masks)
    p_refs, phi_refs = np.empty((k, len(scored))), np.empty((k, len(scored)))
    for i, mask in enumerate(masks):
        if progress is not None:
            progress(i, k, f"training reference model {i + 1}/{k}")
        ref_seed = int(np.random.default_rng([seed, i]).integers(2**31))
        model = score_model(train_fn(x[mask], y[mask], ref_seed), n_classes)
        proba = true_class_proba(model, x[scored], y[scored], n_classes)
        p_refs[i], phi_refs[i] = confidence(proba, y[scored]), logit_confidence(proba, y[scored])
    if progress is not None:
        progress(k, k, "reference models trained")
    return p_refs, phi_refs


def _validate(
    target: object,
    members: Dataset,
    nonmembers: Dataset,
    population: Dataset | None,
    k: int,
    gamma: float,
    a: float,
) -> None:
    if not hasattr(target, "predict_proba") or not hasattr(target, "n_classes"):
        raise ConfigError("RMIA and LiRA need a target that returns probabilities")
    if not isinstance(members, Dataset) or not isinstance(nonmembers, Dataset):
        raise ConfigError("members and nonmembers must be aiarmor Datasets")
    if members.sample_shape != nonmembers.sample_shape:
        raise DataError(
            f"members have samples of shape {members.sample_shape} but non-members "
            f"{nonmembers.sample_shape}"
        )
    if population is not None and population.sample_shape != members.sample_shape:
        raise DataError("the population's samples have a different shape than the members'")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"n_references must be a positive integer, got {k!r}")
    if not gamma > 0 or not 0.0 <= a <= 1.0:
        raise ConfigError("gamma must be positive and offline_a in [0, 1]")
