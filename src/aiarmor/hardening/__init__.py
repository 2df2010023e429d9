"""Hardening: audit a model, mitigate what the audit found, and prove it with a second audit.

A mitigation is a :class:`Hardener` (:mod:`aiarmor.core.hardener`), implemented in its area:

* :class:`aiarmor.robustness.hardening.AdversarialHardener` - PGD or TRADES adversarial
  training;
* :class:`aiarmor.privacy.dp_hardener.DPHardener` - DP-SGD training through Opacus;
* :class:`aiarmor.fairness.hardener.FairnessHardener` - Fairlearn mitigation;
* :class:`aiarmor.poisoning.sanitize_hardener.SanitizeHardener` - remove or relabel suspected
  poison and retrain.

:func:`run_hardening` audits the original model, transforms it, audits the result with the
same checks, data, budget and seed and appends the before/after section; :func:`write_hardening`
writes the hardened model, both reports and ``comparison.json``. Example::

    hardener = AdversarialHardener(TrainingConfig(epsilon=0.1, bounds=(0.0, 1.0)))
    run = run_hardening(hardener, target, train, test, budget="quick", out_dir=out)
    write_hardening(run, out)
"""

from aiarmor.core.hardener import Hardened, Hardener
from aiarmor.hardening.outputs import COMPARISON_FILE, save_model, section_rows, write_hardening
from aiarmor.hardening.run import STAGES, HardeningRun, run_hardening, saved_subject

__all__ = [
    "COMPARISON_FILE",
    "STAGES",
    "Hardened",
    "Hardener",
    "HardeningRun",
    "run_hardening",
    "save_model",
    "saved_subject",
    "section_rows",
    "write_hardening",
]
