"""Ready-made end-to-end scenarios on bundled real data (for the demo, docs and tests).

* :mod:`aiarmor.scenarios.credit` - an income (credit-style) classifier on the UCI Adult
  census table, with ``sex`` and ``race`` as sensitive attributes.
"""

from aiarmor.scenarios.credit import CREDIT_MODEL_NAME, build_credit_model, credit_scenario

__all__ = ["CREDIT_MODEL_NAME", "build_credit_model", "credit_scenario"]
