"""Kubernetes: MCPServer / MCPGateway / MCPRegistry custom resources and their operator.

* ``resources`` — the resources as pydantic models (the single source of truth), ``crds`` — the CRDs
  derived from them;
* ``render`` — a resource in, the manifests it stands for out (pure; ``hivekeeper kube render``);
* ``kubeapi`` — the API client and create-or-server-side-apply; ``reconcile`` — apply, prune, status;
* ``handlers`` — the kopf layer (``hivekeeper kube operator``); ``probe`` — tools a Service lists;
* ``stdio_pipe`` — the proxy's end of a stdio server in another container of the pod.

Submodules are imported where used, so ``import hivekeeper.operator`` costs nothing.
"""
