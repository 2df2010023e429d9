"""The secure serving gateway (``aiarmor serve``): a leaf area; nothing else imports it.

Needs the ``aiarmor[serve]`` extra (FastAPI, uvicorn, pydantic, SQLAlchemy, PyJWT, redis,
prometheus-client). See docs/serving.md.
"""
