"""Secrets: stored encrypted (or read from the environment), injected into servers as env vars at start.

Values never reach state files, logs, ``export`` output or error messages: everything outside this
package handles ``SecretRef`` (a name and a target variable), and only ``SecretStore.resolve`` yields
values, right before a process starts.
"""

from hivekeeper.secrets.encrypted import PASSPHRASE_VARIABLE, EncryptedFileProvider
from hivekeeper.secrets.environment import EnvironmentProvider
from hivekeeper.secrets.store import SecretProvider, SecretRef, SecretStore, default_store, secrets_file

__all__ = [
    "PASSPHRASE_VARIABLE",
    "EncryptedFileProvider",
    "EnvironmentProvider",
    "SecretProvider",
    "SecretRef",
    "SecretStore",
    "default_store",
    "secrets_file",
]
