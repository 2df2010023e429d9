"""aiarmor's own encrypted artifacts (``aiarmor encrypt``), recognized by their header.

The ciphertext cannot be scanned without the master key, and the scanner never decrypts: an
encrypted artifact is an info note saying so (scan the decrypted file before loading it),
never a clean result. Only the clear header is read (format version, content kind, chunk
size, master key id); a header that does not parse is a finding (fail closed).
"""

from __future__ import annotations

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.encryption_format import HEADER_SIZE, MAGIC, DecryptionError, header_facts
from aiarmor.modelfiles.formats.common import DOS_STANDARDS, ScanContext
from aiarmor.modelfiles.registry import FormatAnalyser, leaf
from aiarmor.modelfiles.results import scan_finding

FORMAT = "aiarmor-encrypted"
"""The inventory format name of an encrypted artifact."""
_TAG = 16
_STANDARDS = DOS_STANDARDS[1:]  # OWASP ML06: supply chain
_DECRYPT_FIRST = (
    "Decrypt it (aiarmor decrypt) and scan the decrypted file before loading it; the gateway "
    "loads encrypted models only after their signature verifies."
)


def is_aiarmor_encrypted(head: bytes) -> bool:
    """The ``AIARMENC`` magic of :mod:`aiarmor.modelfiles.encryption`."""
    return head.startswith(MAGIC)


def scan_encrypted(ctx: ScanContext, data: bytes, path: str) -> None:
    """Inventory the header; an info note (content not scanned) or a malformed-header finding."""
    try:
        facts = header_facts(bytes(data[:HEADER_SIZE]))
        if len(data) < HEADER_SIZE + _TAG:
            raise DecryptionError("truncated: no final chunk after the header")
    except DecryptionError as exc:
        ctx.entry(path, FORMAT, data, {})
        ctx.add(
            "scan.format.encrypted_malformed",
            Severity.MEDIUM,
            "Malformed aiarmor encrypted file",
            f"The file starts with the aiarmor encryption magic but its header is bad ({exc}); "
            "it cannot be decrypted or scanned (fail closed).",
            path,
            {"reason": str(exc)},
            _STANDARDS,
        )
        return
    ctx.entry(path, FORMAT, data, facts)
    note = scan_finding(
        "scan.format.encrypted",
        Severity.INFO,
        "Encrypted aiarmor artifact: content not scanned",
        f"The file is encrypted with aiarmor encrypt (AES-256-GCM, master key id "
        f"{facts['key_id']}); its content cannot be scanned until it is decrypted.",
        path,
        remediation=_DECRYPT_FIRST,
        standards=_STANDARDS,
        evidence={"key_id": facts["key_id"], "content": facts["content"]},
    )
    ctx.findings.append(note)


ANALYSER = FormatAnalyser(
    "aiarmor-encrypted", lambda head, _data: is_aiarmor_encrypted(head), leaf(scan_encrypted)
)
