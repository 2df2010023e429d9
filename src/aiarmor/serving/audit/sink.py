"""What the request pipeline and the audit routes need of an audit log."""

from __future__ import annotations

from typing import Any, Protocol

from aiarmor.serving.audit.log import AuditEntry, AuditVerification

__all__ = ["AuditSink"]


class AuditSink(Protocol):
    """Durable appends, one per request, and the reads the audit routes serve.

    :class:`~aiarmor.serving.audit.log.AuditLog` is the implementation; a test may pass any
    object with these methods to ``create_app(audit_log=...)``.
    """

    def append(self, entry: AuditEntry) -> object:
        """Append ``entry``; committed (durable) when this returns."""
        ...

    async def append_async(self, entry: AuditEntry) -> object:
        """:meth:`append` for coroutines, without blocking the event loop."""
        ...

    def query(
        self,
        *,
        identity: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` matching records, newest first."""
        ...

    def verify(self) -> AuditVerification:
        """Walk the whole chain."""
        ...
