"""The standards catalogue that checks cite.

References are strings ``"<FRAMEWORK>:<id>"``:

* ``ATLAS:AML.Txxxx[.yyy]`` - MITRE ATLAS techniques (https://atlas.mitre.org/techniques/)
* ``OWASP-ML:MLnn`` - OWASP Machine Learning Security Top 10 (2023 edition)
* ``NIST-AI-RMF:<FUNCTION>[-<n.m>]`` - NIST AI Risk Management Framework 1.0 (AI 100-1)
  functions and the subcategories checks most often evidence.

Checks declare their references at registration; :func:`validate_refs` rejects an unknown one
so a typo cannot reach a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiarmor.core.errors import RegistryError


@dataclass(frozen=True, slots=True)
class StandardRef:
    """One entry of the catalogue."""

    ref: str
    """The reference string used in findings, e.g. ``"OWASP-ML:ML01"``."""
    framework: str
    """``"MITRE ATLAS"``, ``"OWASP ML Top 10"`` or ``"NIST AI RMF"``."""
    name: str
    """Human name of the technique / risk / function."""
    url: str
    """Where the entry is described."""


_ATLAS = "https://atlas.mitre.org/techniques/"
_OWASP = "https://owasp.org/www-project-machine-learning-security-top-10/docs/"
_NIST = "https://airc.nist.gov/airmf-resources/airmf/"

_ENTRIES: tuple[tuple[str, str, str], ...] = (
    # MITRE ATLAS techniques
    ("ATLAS:AML.T0005", "MITRE ATLAS", "Create Proxy AI Model"),
    ("ATLAS:AML.T0010", "MITRE ATLAS", "AI Supply Chain Compromise"),
    ("ATLAS:AML.T0010.003", "MITRE ATLAS", "AI Supply Chain Compromise: Model"),
    ("ATLAS:AML.T0011", "MITRE ATLAS", "User Execution"),
    ("ATLAS:AML.T0011.000", "MITRE ATLAS", "User Execution: Unsafe AI Artifacts"),
    ("ATLAS:AML.T0015", "MITRE ATLAS", "Evade AI Model"),
    ("ATLAS:AML.T0018", "MITRE ATLAS", "Manipulate AI Model (Backdoor)"),
    ("ATLAS:AML.T0020", "MITRE ATLAS", "Poison Training Data"),
    ("ATLAS:AML.T0024", "MITRE ATLAS", "Exfiltration via AI Inference API"),
    ("ATLAS:AML.T0024.000", "MITRE ATLAS", "Infer Training Data Membership"),
    ("ATLAS:AML.T0024.001", "MITRE ATLAS", "Invert AI Model"),
    ("ATLAS:AML.T0024.002", "MITRE ATLAS", "Extract AI Model"),
    ("ATLAS:AML.T0029", "MITRE ATLAS", "Denial of AI Service"),
    ("ATLAS:AML.T0031", "MITRE ATLAS", "Erode AI Model Integrity"),
    ("ATLAS:AML.T0034", "MITRE ATLAS", "Cost Harvesting"),
    ("ATLAS:AML.T0040", "MITRE ATLAS", "AI Model Inference API Access"),
    ("ATLAS:AML.T0043", "MITRE ATLAS", "Craft Adversarial Data"),
    ("ATLAS:AML.T0046", "MITRE ATLAS", "Spamming AI System with Chaff Data"),
    # OWASP Machine Learning Security Top 10
    ("OWASP-ML:ML01", "OWASP ML Top 10", "Input Manipulation Attack"),
    ("OWASP-ML:ML02", "OWASP ML Top 10", "Data Poisoning Attack"),
    ("OWASP-ML:ML03", "OWASP ML Top 10", "Model Inversion Attack"),
    ("OWASP-ML:ML04", "OWASP ML Top 10", "Membership Inference Attack"),
    ("OWASP-ML:ML05", "OWASP ML Top 10", "Model Theft"),
    ("OWASP-ML:ML06", "OWASP ML Top 10", "AI Supply Chain Attacks"),
    ("OWASP-ML:ML07", "OWASP ML Top 10", "Transfer Learning Attack"),
    ("OWASP-ML:ML08", "OWASP ML Top 10", "Model Skewing"),
    ("OWASP-ML:ML09", "OWASP ML Top 10", "Output Integrity Attack"),
    ("OWASP-ML:ML10", "OWASP ML Top 10", "Model Poisoning"),
    # NIST AI RMF 1.0 functions and subcategories
    ("NIST-AI-RMF:GOVERN", "NIST AI RMF", "Govern"),
    ("NIST-AI-RMF:MAP", "NIST AI RMF", "Map"),
    ("NIST-AI-RMF:MEASURE", "NIST AI RMF", "Measure"),
    ("NIST-AI-RMF:MANAGE", "NIST AI RMF", "Manage"),
    ("NIST-AI-RMF:MAP-4.1", "NIST AI RMF", "Legal risks of components, including data, are mapped"),
    ("NIST-AI-RMF:MEASURE-2.3", "NIST AI RMF", "Performance in deployment-like conditions"),
    ("NIST-AI-RMF:MEASURE-2.5", "NIST AI RMF", "The AI system is valid and reliable"),
    ("NIST-AI-RMF:MEASURE-2.6", "NIST AI RMF", "The AI system is evaluated for safety risks"),
    ("NIST-AI-RMF:MEASURE-2.7", "NIST AI RMF", "Security and resilience are evaluated"),
    ("NIST-AI-RMF:MEASURE-2.10", "NIST AI RMF", "Privacy risk is examined"),
    ("NIST-AI-RMF:MEASURE-2.11", "NIST AI RMF", "Fairness and bias are evaluated"),
    ("NIST-AI-RMF:MANAGE-2.3", "NIST AI RMF", "Procedures to respond to unknown risks"),
    ("NIST-AI-RMF:MANAGE-4.1", "NIST AI RMF", "Post-deployment monitoring plans"),
)


def _url(ref: str) -> str:
    framework, _, ident = ref.partition(":")
    if framework == "ATLAS":
        return _ATLAS + ident
    if framework == "OWASP-ML":
        return _OWASP + ident + "_2023"
    return _NIST + ident.split("-")[0].title()


CATALOGUE: dict[str, StandardRef] = {
    ref: StandardRef(ref=ref, framework=fw, name=name, url=_url(ref)) for ref, fw, name in _ENTRIES
}
"""Every known reference, keyed by its string."""


def validate_refs(refs: Iterable[str]) -> tuple[str, ...]:
    """Return ``refs`` as a tuple, raising RegistryError on any unknown reference."""
    out = tuple(refs)
    unknown = [r for r in out if r not in CATALOGUE]
    if unknown:
        raise RegistryError(f"unknown standards reference(s): {', '.join(unknown)}")
    return out


def describe(ref: str) -> StandardRef:
    """The catalogue entry for ``ref`` (RegistryError when unknown)."""
    validate_refs([ref])
    return CATALOGUE[ref]
