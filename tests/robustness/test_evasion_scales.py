"""robustness.evasion skips raw tabular data whose features live on very different scales."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from aiarmor import audit
from aiarmor.core import CheckStatus
from aiarmor.data.dataset import Dataset
from aiarmor.targets import SklearnTarget


def _table(scale_of_last: float) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((120, 4)).astype(np.float32)
    x[:, 3] *= scale_of_last  # e.g. an income column next to ratios
    y = (x[:, 0] > 0.5).astype(np.int64)
    return Dataset(x=x, y=y, name="table")


def _reason(data: Dataset, **kw) -> str | None:
    clf = LogisticRegression().fit(data.x, data.y)
    report = audit(SklearnTarget(clf), data, checks=["robustness.evasion"], budget="quick", **kw)
    result = report.check("robustness.evasion")
    return result.reason if result.status is CheckStatus.SKIPPED else None


def test_mixed_scales_are_skipped_with_a_reason():
    reason = _reason(_table(1e5))
    assert reason is not None and "different scales" in reason


def test_common_scale_is_not_skipped_for_scales():
    reason = _reason(_table(2.0))
    assert reason is None or "different scales" not in reason
