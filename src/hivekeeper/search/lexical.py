"""BM25F over tool fields.

A tool's name counts for more than a word deep in its description, so each field has its own weight
and length normalisation (BM25F: weighted, normalised term frequencies summed before saturation).
bm25s scores single-field documents only, hence this small implementation. Saturated term weights are
precomputed per (term, tool), so a query costs one scatter-add per query term.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

# field -> (weight, length normalisation b)
FIELD_WEIGHTS: Mapping[str, tuple[float, float]] = {
    "name": (3.0, 0.3),
    "title": (2.0, 0.3),
    "description": (1.0, 0.75),
    "parameters": (0.5, 0.75),
    "server": (1.5, 0.2),
}
K1 = 1.2


@dataclass(frozen=True, slots=True)
class Postings:
    docs: IntArray
    weights: FloatArray


class BM25F:
    """An immutable BM25F index over documents given as ``{field: [term, ...]}``."""

    def __init__(self, documents: Sequence[Mapping[str, Sequence[str]]]) -> None:
        self.size = len(documents)
        avg_len = {
            field: max(1.0, sum(len(doc.get(field, ())) for doc in documents) / max(1, self.size))
            for field in FIELD_WEIGHTS
        }
        pseudo_tf: dict[str, dict[int, float]] = {}
        for index, doc in enumerate(documents):
            for field, (weight, b) in FIELD_WEIGHTS.items():
                field_terms = doc.get(field, ())
                if not field_terms:
                    continue
                norm = 1.0 - b + b * len(field_terms) / avg_len[field]
                for term, count in Counter(field_terms).items():
                    per_doc = pseudo_tf.setdefault(term, {})
                    per_doc[index] = per_doc.get(index, 0.0) + weight * count / norm
        self._postings: dict[str, Postings] = {}
        for term, per_doc in pseudo_tf.items():
            idf = math.log(1.0 + (self.size - len(per_doc) + 0.5) / (len(per_doc) + 0.5))
            tf = np.fromiter(per_doc.values(), dtype=np.float32, count=len(per_doc))
            self._postings[term] = Postings(
                docs=np.fromiter(per_doc.keys(), dtype=np.int32, count=len(per_doc)),
                weights=(idf * tf * (K1 + 1.0) / (tf + K1)).astype(np.float32),
            )

    def __contains__(self, term: str) -> bool:
        return term in self._postings

    def document_frequency(self, term: str) -> int:
        postings = self._postings.get(term)
        return 0 if postings is None else len(postings.docs)

    def scores(self, query_terms: Mapping[str, float]) -> FloatArray:
        """BM25F score of every document for ``{term: query weight}``."""
        out = np.zeros(self.size, dtype=np.float32)
        for term, weight in query_terms.items():
            postings = self._postings.get(term)
            if postings is not None:
                out[postings.docs] += weight * postings.weights  # a term lists each document once
        return out
