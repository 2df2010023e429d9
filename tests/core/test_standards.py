import pytest

from aiarmor.core import CATALOGUE, RegistryError, validate_refs
from aiarmor.core.standards import describe


def test_catalogue_covers_owasp_top_ten_and_nist_functions():
    owasp = {r for r in CATALOGUE if r.startswith("OWASP-ML:")}
    assert owasp == {f"OWASP-ML:ML{i:02d}" for i in range(1, 11)}
    for fn in ("GOVERN", "MAP", "MEASURE", "MANAGE"):
        assert f"NIST-AI-RMF:{fn}" in CATALOGUE


def test_every_entry_has_a_matching_url_and_framework():
    for ref, entry in CATALOGUE.items():
        assert entry.ref == ref
        assert entry.url.startswith("https://")
        prefix = ref.split(":")[0]
        assert {"ATLAS": "MITRE ATLAS", "OWASP-ML": "OWASP ML Top 10"}.get(
            prefix, "NIST AI RMF"
        ) == entry.framework
    assert describe("ATLAS:AML.T0043").url.endswith("AML.T0043")


def test_unknown_reference_is_rejected():
    assert validate_refs(["OWASP-ML:ML01"]) == ("OWASP-ML:ML01",)
    with pytest.raises(RegistryError, match="OWASP-ML:ML11"):
        validate_refs(["OWASP-ML:ML01", "OWASP-ML:ML11"])
