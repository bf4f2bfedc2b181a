"""On-disk cache of tool embeddings, keyed by a hash of the model and the embedded text.

A restart (or another gateway sharing the cache directory) re-embeds only tools whose definition
changed. Vectors are stored as float16: the cache is a speed-up, and half precision does not move
cosine rankings at the scale of tool catalogues.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
from filelock import FileLock

from hivekeeper.fileio import write_atomic

FloatArray = npt.NDArray[np.float32]
log = logging.getLogger(__name__)
MAX_ENTRIES = 200_000  # ~50 MB at 128 dimensions; the oldest entries go first


def text_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()[:32]


class EmbeddingCache:
    """A persistent ``key -> vector`` map for one embedding model."""

    def __init__(self, directory: Path, model_id: str) -> None:
        self.path = directory / f"embeddings-{model_id}.npz"
        self._lock = threading.Lock()
        self._vectors: dict[str, FloatArray] = self._read()
        self._dirty = False

    def _read(self) -> dict[str, FloatArray]:
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError):
            return {}  # a damaged cache is rebuilt, never fatal
        return {str(key): vector for key, vector in zip(keys, vectors, strict=True)}

    def __len__(self) -> int:
        return len(self._vectors)

    def get_many(self, keys: Iterable[str]) -> dict[str, FloatArray]:
        with self._lock:
            return {key: self._vectors[key] for key in keys if key in self._vectors}

    def put_many(self, vectors: Mapping[str, FloatArray]) -> None:
        if not vectors:
            return
        with self._lock:
            self._vectors.update(vectors)
            self._dirty = True

    def save(self) -> None:
        """Merge with what other processes wrote meanwhile, then replace the file atomically.
        A cache that cannot be written (read-only home) costs re-embedding later, never an error."""
        try:
            self._save()
        except OSError as exc:
            log.warning("tool-search cache %s not saved: %s", self.path, exc)

    def _save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.path) + ".lock"):
                merged = {**self._read(), **self._vectors}
                keys = list(merged)[-MAX_ENTRIES:]
                buffer = io.BytesIO()
                np.savez(
                    buffer,
                    keys=np.array(keys, dtype="U32"),
                    vectors=np.stack([merged[key] for key in keys]).astype(np.float16)
                    if keys
                    else np.zeros((0, 0), dtype=np.float16),
                )
                write_atomic(self.path, buffer.getvalue(), mode=0o644)
            self._vectors = {key: merged[key] for key in keys}
            self._dirty = False
