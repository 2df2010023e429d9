"""Robustness checks: how the model behaves on inputs it was not trained for.

Importing this package registers its checks.
"""

from aiarmor.robustness.input_validation import InputValidationCheck

__all__ = ["InputValidationCheck"]
