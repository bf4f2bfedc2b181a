"""Every `hivekeeper ...` command imports the CLI root first, so that import must stay light: heavy
libraries load inside the command that needs them (the proxy's start-up and RSS targets depend on it)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "numpy",
    "sqlalchemy",
    "cryptography",
    "kubernetes",
    "kopf",
    "docker",
    "cedarpy",
    "opentelemetry",
    "uvicorn",
    "starlette",
    "model2vec",
    "tokenizers",
    "jinja2",
    "redis",
    "sigstore",
    "ruamel",
    "tomlkit",
    "onnxruntime",
    "rich",
]


def test_cli_root_import_pulls_no_heavy_library() -> None:
    probe = (
        "import sys, json; import hivekeeper.cli.app; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert loaded == [], f"importing the CLI root loads {loaded}: import them inside the command functions"
