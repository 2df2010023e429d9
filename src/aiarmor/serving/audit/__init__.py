"""The gateway's tamper-evident audit log: :mod:`.log` (the HMAC chain, :class:`AuditLog`),
:mod:`.store` (tables, engines, group commit, read-only queries) and :mod:`.sink` (the
:class:`~.sink.AuditSink` protocol, what the request pipeline needs of a log).

Imports nothing else of :mod:`aiarmor.serving`.
"""
