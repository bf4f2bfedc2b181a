"""Inbound authentication: bearer JWTs against a JWKS (``jwt``), static API keys (``apikeys``), the ASGI
middleware answering 401 with RFC 9728 metadata (``middleware``), and the ``Caller`` every later part sees
(``identity``)."""
