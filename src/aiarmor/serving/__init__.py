"""The secure serving gateway (``aiarmor serve``): a leaf area; nothing else imports it.

Needs the ``aiarmor[serve]`` extra (FastAPI, uvicorn, pydantic, SQLAlchemy, PyJWT, redis,
prometheus-client). See docs/serving.md. Split by concern, imports going down this list:

* :mod:`.http`: the HTTP surface (FastAPI app, routes, admin and audit routes, the plain
  ASGI predict route, middleware, ``respond``);
* :mod:`.pipeline`: the framework-free request pipeline (the gateway, authentication and the
  key store, limits, payload validation and output hardening, detectors, outcomes);
* :mod:`.audit`: the tamper-evident audit log (the chain, its storage, the sink protocol);
* :mod:`.settings` (the validated configuration, imported by all of them), :mod:`.artifacts`
  (verified model loading) and :mod:`.wiring` (builds a gateway from settings).

:mod:`.app`, :mod:`.auditlog`, :mod:`.auditstore` and :mod:`.detect` are the old module
paths, kept as aliases of the modules that replaced them; nothing inside the package
imports them.
"""
