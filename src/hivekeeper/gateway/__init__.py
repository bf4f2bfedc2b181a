"""The gateway: one governed MCP endpoint in front of a group of servers.

    from hivekeeper.gateway.app import Gateway
    from hivekeeper.gateway.config import GatewayConfig

    gateway = Gateway(GatewayConfig.model_validate(yaml.safe_load(text)))
    app = gateway.app()            # Starlette app: /mcp (both eras), /metrics, /gateway/status, /healthz
    routes = gateway.routes()      # or mount its routes in another app, with ``gateway.lifespan``

Modules: ``config`` (the YAML schema), ``catalog`` (aggregation, conflicts, routing table), ``chain`` (the
``Call`` and the link interface), one module per link (``audit``, ``telemetry``, ``search``,
``authorization``), ``filters`` and ``integrity`` (applied to tool definitions), ``router`` (the end of the
chain), ``handler`` (the transport front's handler), ``sessions`` (Redis session store for replicas),
``workloads`` (backends from this host's workloads: by name, and a group followed as it changes).
Nothing is imported here, so reading the config schema stays cheap.
"""
