"""Model files: what they are and how to handle them without running them.

The layer below both the scanner (:mod:`aiarmor.scanning`) and the loader
(:mod:`aiarmor.targets`); it imports neither.

* :mod:`~aiarmor.modelfiles.sniff` - the one content sniffer, answering for scanner and loader;
* :mod:`~aiarmor.modelfiles.registry` - the format-analyser registry (one module per format
  under :mod:`aiarmor.modelfiles.formats`);
* :mod:`~aiarmor.modelfiles.engine` - inspection of bytes and files with limits;
* :mod:`~aiarmor.modelfiles.results` - findings, inventory entries and the scan report;
* ``pickle_scan`` / ``pickle_walk`` / ``pickle_policy`` / ``pickle_npy`` - the opcode walker
  and its allowlist (nothing is ever unpickled; ``pickle_ops`` holds the opcode tables and
  argument readers, ``pickle_findings`` the walk's findings);
* :mod:`~aiarmor.modelfiles.provenance` - the record of a model loaded from a trusted pickle;
* :mod:`~aiarmor.modelfiles.signing`, :mod:`~aiarmor.modelfiles.encryption`,
  :mod:`~aiarmor.modelfiles.keys` - signatures, encryption at rest and their keys
  (``signing_manifest`` / ``signing_bundle`` hold the manifests and the bundle format,
  ``encryption_format`` / ``encryption_stream`` the header and the streaming cipher).
"""
