"""core.plugins.load_entries: one loader for every module:ATTRIBUTE registry."""

from dataclasses import dataclass

import pytest

from aiarmor.core.plugins import load_entries


@dataclass(frozen=True)
class Thing:
    name: str


A = Thing("a")
B = Thing("b")
ALSO_A = Thing("a")
NOT_A_THING = object()
HERE = __name__


def test_entries_load_in_order():
    assert load_entries([f"{HERE}:B", f"{HERE}:A"], Thing, "thing") == [B, A]


def test_a_duplicate_name_or_a_wrong_type_is_refused():
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        load_entries([f"{HERE}:A", f"{HERE}:ALSO_A"], Thing, "thing")
    with pytest.raises(TypeError, match="is not a Thing"):
        load_entries([f"{HERE}:NOT_A_THING"], Thing, "thing")
