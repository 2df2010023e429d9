"""The ``supply_chain.pickle_trust`` check: record that the model came from a trusted pickle."""

from __future__ import annotations

from aiarmor.core.errors import CheckError
from aiarmor.core.findings import CheckOutcome, Severity
from aiarmor.core.registry import Check, CheckContext, register
from aiarmor.modelfiles.provenance import provenance_of


@register
class PickleTrustCheck(Check):
    """Pickle trust: the model under test was deserialized from a pickle on explicit trust.

    What it detects:
        That the audited model was loaded from a pickle-based file (raw pickle, joblib,
        ``torch.save`` of a whole model) because the user passed ``--trust-pickle`` after
        ``aiarmor scan`` found nothing in it. The finding's evidence names the loader used
        (``torch.load(weights_only=True)`` or a restricted unpickler), the globals it was
        allowed to resolve and the scan summary.

    Why it matters:
        Unpickling executes code. The scanner's allowlist fails closed, so a clean scan is
        necessary, but it is not proof of safety: the decision to load was the user's, and
        the report keeps a record of it (ATLAS AML.T0010.003, OWASP ML06 supply chain).

    Not applicable when the model was not loaded from a pickle.
    """

    id = "supply_chain.pickle_trust"
    title = "Model loaded from a trusted pickle"
    summary = "Records that the model was deserialized from a scan-clean pickle on explicit trust."
    standards = ("ATLAS:AML.T0010.003", "OWASP-ML:ML06")
    metrics = ("trusted_pickle", "allowed_globals")

    def applicable(self, ctx: CheckContext) -> str | None:
        """Only for targets with a :mod:`aiarmor.modelfiles.provenance` record."""
        if provenance_of(ctx.target) is None:
            return "the model was not loaded from a pickle-based file"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """One low finding with the provenance as evidence."""
        prov = provenance_of(ctx.target)
        if prov is None:
            raise CheckError("the model was not loaded from a pickle-based file")
        finding = self.finding(
            Severity.LOW,
            "Model deserialized from a pickle on the user's explicit trust",
            f"{prov.path} was loaded with {prov.loader} after `aiarmor scan` found nothing; "
            f"the unpickler could resolve {len(prov.globals)} allowlisted global(s). Loading a "
            "pickle runs code, so this rests on the user's --trust-pickle decision.",
            "Convert the model to a format that cannot execute code (safetensors weights with "
            "the architecture in code, TorchScript, torch.export, ONNX or skops) and audit that.",
            evidence=prov.subject(),
        )
        return CheckOutcome(
            metrics={"trusted_pickle": 1.0, "allowed_globals": float(len(prov.globals))},
            findings=(finding,),
        )
