"""The gateway's request pipeline, framework-free: authenticate, authorize, validate, limit,
detect, predict, harden (see :class:`.gateway.Gateway`). Knows nothing of HTTP frameworks."""
