"""Sentence embeddings for tool search.

The default model ships inside the package (``model/``): all-MiniLM-L6-v2 distilled into a model2vec
static model by ``scripts/build_search_model.py``. Embedding is a tokenizer pass and a mean of table
rows, so it needs numpy and tokenizers only — no torch, no download — and takes well under a
millisecond per query.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hivekeeper.errors import ConfigError, UnavailableError

FloatArray = npt.NDArray[np.float32]
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    @property
    def model_id(self) -> str:
        """Identifies the model's weights, so cached vectors of another model are never reused."""
        ...

    def embed(self, texts: Sequence[str]) -> FloatArray: ...


def normalize_rows(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: FloatArray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return normalized


class StaticEmbedder:
    """A model2vec static model loaded from a local directory."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR) -> None:
        from model2vec import StaticModel

        weights = model_dir / "model.safetensors"
        if not weights.is_file():
            raise ConfigError(f"embedding model not found: {weights}")
        self._model = StaticModel.from_pretrained(str(model_dir))
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        self._model_id = f"m2v-{digest}"
        # tokenizers' Rust objects are not documented as safe to share across threads mid-call.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), use_multiprocessing=False)
        return normalize_rows(np.asarray(vectors, dtype=np.float32))

    @property
    def dimensions(self) -> int:
        return int(self._model.embedding.shape[1])


TRANSFORMER_MODEL_DIR = DEFAULT_MODEL_DIR / "transformer"


class TransformerEmbedder:
    """all-MiniLM-L6-v2 itself, exported to ONNX with its mean pooling and int8-quantized
    (``model/transformer/``), run by onnxruntime: the contextual model the static one is distilled
    from, without torch. Costs milliseconds per text where the static model costs microseconds."""

    def __init__(self, model_dir: Path = TRANSFORMER_MODEL_DIR, *, max_tokens: int = 128, threads: int = 1) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise UnavailableError(
                "the transformer embedding model needs onnxruntime: pip install 'hivekeeper[transformer]'"
            ) from exc
        from tokenizers import Tokenizer

        weights = model_dir / "model.onnx"
        if not weights.is_file():
            raise ConfigError(f"embedding model not found: {weights}")
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
        width = self._session.get_outputs()[0].shape[-1]
        if not isinstance(width, int):
            raise ConfigError(f"embedding model {weights}: output width is not fixed ({width!r})")
        self.dimensions = width
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        self._model_id = f"onnx-{digest}-{max_tokens}"
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> FloatArray:
        # One text per run: int8 activations are scaled per batch, so in a batch a text's vector would
        # depend on its neighbours (and the cache would hold whichever variant came first). Unpadded
        # runs cost little more than batches for texts this short.
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            ids = np.array([encoding.ids], dtype=np.int64)
            with self._lock:
                (vector,) = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
            out[row] = vector[0]
        return normalize_rows(out)


class CombinedEmbedder:
    """Several models side by side: each part's vector scaled by the square root of its weight and
    concatenated, so the cosine of two combined vectors is the weighted mean of the parts' cosines."""

    def __init__(self, parts: Sequence[tuple[Embedder, float]]) -> None:
        if not parts or any(weight <= 0 for _, weight in parts):
            raise ConfigError("a combined embedder needs at least one model, each with a positive weight")
        total = sum(weight for _, weight in parts)
        self._parts = [(embedder, float(np.sqrt(weight / total))) for embedder, weight in parts]
        self._model_id = "+".join(f"{embedder.model_id}-w{weight:g}" for embedder, weight in parts)

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> FloatArray:
        combined: FloatArray = np.concatenate(
            [scale * embedder.embed(texts) for embedder, scale in self._parts], axis=1
        ).astype(np.float32, copy=False)
        return combined


class HttpEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Hugging Face TEI,
    vLLM, Ollama, LiteLLM...): for a heavier model than the shipped one, served elsewhere.

    Each query costs a round trip, so expect the endpoint's latency on top of the search's.
    """

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 30.0, batch_size: int = 128
    ) -> None:
        import httpx

        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout)  # thread-safe, keeps connections
        self._model_id = "http-" + hashlib.sha256(f"{self._url}\0{model}".encode()).hexdigest()[:16]

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> FloatArray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            rows.extend(self._post(list(texts[start : start + self._batch_size])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalize_rows(np.asarray(rows, dtype=np.float32))

    def _post(self, batch: list[str]) -> list[list[float]]:
        import httpx

        try:
            response = self._client.post(self._url, json={"model": self._model, "input": batch})
        except httpx.HTTPError as exc:
            raise UnavailableError(f"embeddings endpoint {self._url} unreachable: {exc}") from None
        if response.status_code != 200:
            raise UnavailableError(
                f"embeddings endpoint {self._url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [list(item["embedding"]) for item in data]
        except (ValueError, KeyError, TypeError):
            raise UnavailableError(
                f"embeddings endpoint {self._url}: expected {{data: [{{index, embedding}}]}}"
            ) from None
        if len(vectors) != len(batch):
            raise UnavailableError(
                f"embeddings endpoint {self._url} returned {len(vectors)} vectors for {len(batch)} texts"
            )
        return vectors


_default: StaticEmbedder | None = None
_transformer: TransformerEmbedder | None = None
_default_lock = threading.Lock()


def transformer_embedder() -> CombinedEmbedder:
    """The shipped transformer fused with the shipped static model (weights 2:1, chosen on both
    halves of the dev set): better recall than the static model alone at milliseconds per query."""
    global _transformer
    with _default_lock:
        if _transformer is None:
            _transformer = TransformerEmbedder()
    return CombinedEmbedder([(default_embedder(), 1.0), (_transformer, 2.0)])


def default_embedder() -> StaticEmbedder:
    """The shipped model, loaded once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = StaticEmbedder()
        return _default
