"""The gateway's HTTP surface: :func:`.app.create_app`, the public routes, the admin and audit
routes, the plain ASGI predict route and the security middleware."""
