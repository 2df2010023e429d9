"""The gateway's tamper-evident audit log: :mod:`.log` (:class:`AuditLog`, appending and
verifying, and the import path of the log's public names), :mod:`.chain` (keys, MACs,
checkpoints), :mod:`.entry` (:class:`~.entry.AuditEntry`), :mod:`.verify` (the walk of the
chain), :mod:`.store` (tables, engines, group commit, read-only queries) and :mod:`.sink` (the
:class:`~.sink.AuditSink` protocol, what the request pipeline needs of a log).

Imports nothing else of :mod:`aiarmor.serving`.
"""
