"""The shipped MiniLM transformer (ONNX, int8) and its combination with the static model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from hivekeeper.errors import ConfigError
from hivekeeper.search import (
    TRANSFORMER_TUNING,
    CombinedEmbedder,
    ToolIndex,
    TransformerEmbedder,
    default_embedder,
    load_catalog,
    transformer_embedder,
)

CATALOG = Path(__file__).resolve().parent / "catalog_fixture.json"


@pytest.fixture(scope="module")
def transformer() -> TransformerEmbedder:
    return TransformerEmbedder()


def test_vectors_are_unit_length_and_independent_of_neighbours(transformer: TransformerEmbedder) -> None:
    texts = [
        "send an SMS",
        "list the open pull requests of a repository with their review status",
        "",
        "日本語のテキスト",
    ]
    together = transformer.embed(texts)
    assert together.shape == (4, transformer.dimensions)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # a cached vector must not depend on which texts were embedded with it
    one_by_one = np.stack([transformer.embed([text])[0] for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    assert transformer.embed([]).shape == (0, transformer.dimensions)


def test_meaning_not_words_decides_similarity(transformer: TransformerEmbedder) -> None:
    request, related, unrelated = transformer.embed(
        [
            "text my landlord that the rent is paid",
            "send an SMS message to a phone number",
            "delete a branch from a git repository",
        ]
    )
    assert float(request @ related) > float(request @ unrelated) + 0.1


def test_combined_cosine_is_the_weighted_mean_of_the_parts(transformer: TransformerEmbedder) -> None:
    static = default_embedder()
    combined = CombinedEmbedder([(static, 1.0), (transformer, 3.0)])
    texts = ["create a calendar event", "book a meeting with Sam on Friday"]
    a, b = combined.embed(texts)
    s, t = static.embed(texts), transformer.embed(texts)
    assert float(a @ b) == pytest.approx(0.25 * float(s[0] @ s[1]) + 0.75 * float(t[0] @ t[1]), abs=1e-5)
    assert float(a @ a) == pytest.approx(1.0, abs=1e-5)
    assert combined.model_id != static.model_id and static.model_id in combined.model_id


@pytest.mark.parametrize("parts", [[], [("static", 0.0)], [("static", -1.0)]])
def test_combined_rejects_missing_models_and_non_positive_weights(parts: list[tuple[str, float]]) -> None:
    with pytest.raises(ConfigError, match="positive weight"):
        CombinedEmbedder([(default_embedder(), weight) for _, weight in parts])


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.onnx"):
        TransformerEmbedder(tmp_path)


class CountingTransformer:
    def __init__(self, inner: TransformerEmbedder) -> None:
        self.inner = inner
        self.embedded = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded += len(texts)
        return self.inner.embed(texts)


def test_index_over_the_combined_model_finds_tools_and_persists(
    tmp_path: Path, transformer: TransformerEmbedder
) -> None:
    catalog = load_catalog(CATALOG)
    counting = CountingTransformer(transformer)
    combined = CombinedEmbedder([(default_embedder(), 1.0), (counting, 2.0)])
    index = ToolIndex(combined, cache_dir=tmp_path, tuning=TRANSFORMER_TUNING)
    index.update_servers(catalog.tools, descriptions=catalog.descriptions)
    index.save()
    assert counting.embedded == len(index)
    hits = index.search("save what I changed in the repo with a message", k=3)
    assert ("git", "git_commit") in [hit.key for hit in hits]
    # a restart reads the combined vectors back instead of running the transformer on every tool again
    restarted = ToolIndex(combined, cache_dir=tmp_path, tuning=TRANSFORMER_TUNING)
    restarted.update_servers(catalog.tools, descriptions=catalog.descriptions)
    assert counting.embedded == len(index) + 1  # the one query above
    assert [h.key for h in restarted.search("save what I changed in the repo with a message", k=3)] == [
        h.key for h in hits
    ]
    assert transformer_embedder().model_id != default_embedder().model_id
