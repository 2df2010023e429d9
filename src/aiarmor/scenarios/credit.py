"""The credit scenario: a scikit-learn income classifier trained on the UCI Adult table.

The task stands in for a credit or hiring decision: predict whether a person earns more than
$50K a year (the favourable outcome) from census attributes, with ``sex`` and ``race`` kept
out of the inputs as sensitive attributes. The model is a standardized logistic regression:
quick to train (about a second), about 85% accurate on the published test split, and - like
most models trained on this data - selecting women and some race groups for the favourable
outcome at a fraction of the rate of men, which the fairness checks are there to show.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from aiarmor.data.adult import ADULT_SENSITIVE, load_adult
from aiarmor.data.dataset import Dataset
from aiarmor.targets.sklearn_target import SklearnTarget

CREDIT_MODEL_NAME = "income classifier (UCI Adult, logistic regression)"
"""The scenario model's name in reports."""


def build_credit_model(seed: int = 0) -> Pipeline:
    """The untrained scenario model: standardization, then logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


def credit_scenario(
    *, seed: int = 0, sensitive: Sequence[str] = ADULT_SENSITIVE
) -> tuple[SklearnTarget, Dataset, Dataset]:
    """Train the scenario model on Adult's published training split.

    Returns ``(target, train, test)``: the fitted model as a score target (its estimator is
    ``target.estimator``), and the training and test datasets with the ``sensitive``
    attributes kept apart from the features. Deterministic for a seed.
    """
    train, test = load_adult(sensitive=sensitive)
    model = build_credit_model(seed).fit(train.x, train.y)
    return SklearnTarget(model, name=CREDIT_MODEL_NAME), train, test
