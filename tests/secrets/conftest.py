from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring


@pytest.fixture
def isolated_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """keyrings.alt's plaintext keyring (the headless backend) kept inside the test's folder, for this
    process and for the subprocesses it starts."""
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.delenv("HIVEKEEPER_SECRETS_PASSPHRASE", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield data
    keyring.set_keyring(previous)
