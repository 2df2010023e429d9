"""Byte-level builders of hostile model files, shared by tests/regression and bench/."""
