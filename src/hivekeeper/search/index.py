"""The tool index: every tool of every server, searchable by what a request asks for.

Retrieval fuses four signals, each cheap enough to run per request:

* BM25F over the tool's fields (name, title, description, parameters, server),
* cosine similarity of static sentence embeddings (the shipped model2vec model),
* server routing: a request that names a product ("in gitlab", "on Jira") lifts that server's tools,
* operation agreement: a small nudge for tools whose name does what the request asks (get, list,
  search, create, update, delete) and against those doing another kind of thing; it mostly decides
  between siblings that share the request's resource (``get_issue`` vs ``create_issue``).

Multi-step requests ("branch off main and open an MR") are also split into clauses; each clause is
searched on its own and the rankings are interleaved, so a step that the whole request only hints
at still gets a place in the top k. Steps the request implies without stating them (a file to save
to, a URL to read: ``steps.py``) add the one tool that best does each, if one clearly does; steps
that the main action's product must do itself (open the URL it screenshots) are looked for only on
the servers of the request's best tools, and so is the tool that looks up an identifier the best tools
require and the request does not hold (``prerequisites.py``: the deployments, for the merge requests
that went out with yesterday's deploy).

The index is updated per server (``update_server``) and searched concurrently: every update builds
a new immutable snapshot and swaps it in, so searches never take a lock.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from hivekeeper.errors import ConfigError
from hivekeeper.search.cache import EmbeddingCache, text_key
from hivekeeper.search.embedding import Embedder, default_embedder
from hivekeeper.search.gloss import english_reading
from hivekeeper.search.lexical import BM25F
from hivekeeper.search.prerequisites import Prerequisite, needed, server_prerequisites
from hivekeeper.search.steps import companion_steps, implied_steps
from hivekeeper.search.text import (
    OPERATION_TOKENS,
    PACKAGING_WORDS,
    READ,
    READ_OPERATIONS,
    ToolFields,
    concept_terms,
    intent_text,
    name_operation,
    operation_terms,
    query_terms,
    request_operation,
    terms,
    terms_and_concepts,
    tool_fields,
    words,
)

FloatArray = npt.NDArray[np.float32]

MAX_QUERY_CHARS = 4_000  # beyond this a request is a document, not a question: keep its head
MAX_CLAUSES = 8  # searched separately; more would cost latency for steps a top k cannot hold anyway
# Companion steps are searched on the servers of this many best tools: the best alone may narrowly beat
# the product that does the work (google-workspace export_doc_to_pdf vs a browser's save_as_pdf).
# The same goes for the tools whose required identifiers are looked up (``prerequisites.py``).
COMPANION_LEADERS = 2


@dataclass(frozen=True, slots=True)
class Tuning:
    """Weights of the fused score (lexical scores are scaled to [0, 1], cosines are in [-1, 1]).

    Chosen on both halves of the dev set and on LiveMCPBench; the optimum is flat around these values.
    """

    lexical: float = 1.0
    dense: float = 1.0
    server_mention: float = 0.4
    # Small: enough to order siblings, too little to outweigh what a tool acts on. Another read
    # operation (list for a "show") earns half the match.
    operation_match: float = 0.03
    operation_mismatch: float = 0.03
    # An implied step's best tool joins the results only if its embedding is this close to the
    # step's words: tools made for the step score 0.8-0.9, the best of a catalogue without one ~0.55.
    implied_step_floor: float = 0.7


# For ``transformer_embedder()``: its contextual half separates related from unrelated tools more
# sharply than the static model, so the dense signal earns more weight against the lexical one
# (chosen on both halves of the dev set). Its cosines run lower overall: tools made for an implied
# step score ~0.71 (filesystem write_file for "write file", fetch for "fetch url web page").
TRANSFORMER_TUNING = Tuning(dense=1.5, implied_step_floor=0.6)


@dataclass(frozen=True, slots=True)
class ToolHit:
    """One search result: the tool's full definition, why it matched, and its score for the whole
    request (a tool picked for one step of a multi-step request may rank above higher scores)."""

    server: str
    name: str
    score: float
    tool: Mapping[str, Any]
    why: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.name)


@dataclass(frozen=True, slots=True)
class _ServerEntry:
    name: str
    tools: tuple[Mapping[str, Any], ...]
    terms: tuple[dict[str, list[str]], ...]  # per tool: field -> search terms
    term_sets: tuple[dict[str, frozenset[str]], ...]  # the same as sets, to explain matches
    vectors: FloatArray
    product_words: frozenset[str]
    operations: tuple[str | None, ...]  # per tool: what its name does
    prerequisites: tuple[tuple[Prerequisite, ...], ...]  # per tool; producers by position on this server


@dataclass(slots=True)
class _Snapshot:
    """Flat, immutable arrays over all tools; rebuilt on every update."""

    servers: tuple[_ServerEntry, ...] = ()
    keys: tuple[tuple[str, str], ...] = ()
    tools: tuple[Mapping[str, Any], ...] = ()
    terms: tuple[dict[str, list[str]], ...] = ()
    term_sets: tuple[dict[str, frozenset[str]], ...] = ()  # for explaining matches
    server_of: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    vectors: FloatArray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    lexical: BM25F = field(default_factory=lambda: BM25F([]))
    product_words: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # tools of the same name on two servers (github vs github-legacy-ts) do the same job
    function_ids: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # per tool: 1 + position of its operation in OPERATION_TOKENS, 0 for none
    operation_ids: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    # per tool: identifier parameters a sibling yields, with the producers' global positions
    prerequisites: tuple[tuple[tuple[Prerequisite, npt.NDArray[np.intp]], ...], ...] = ()
    generation: int = 0
    # implied step -> (fused score, cosine) of every tool; a step's words are fixed, so its scores only
    # change with the snapshot. Filled on first use; a race computes the same arrays twice, harmlessly.
    step_scores: dict[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)


def tool_hash(server: str, description: str, tools: Any) -> str:
    """Identifies a server's tool definitions; equal hashes mean nothing changed. Keys are hashed in
    the order given (sorting costs more than the rare re-index a reordering causes, and a re-index
    of unchanged tools finds their embeddings in the cache)."""
    payload = orjson.dumps([server, description, tools], default=str)
    return hashlib.blake2b(payload, digest_size=20).hexdigest()


def _tools_of(result: Mapping[str, Any] | Sequence[Mapping[str, Any]], server: str) -> list[Mapping[str, Any]]:
    tools = result.get("tools") if isinstance(result, Mapping) else result
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):
        raise ConfigError(f"server {server!r}: tools must be a list of tool definitions")
    out: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for position, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise ConfigError(f"server {server!r}: tools[{position}].name must be a non-empty string")
        if tool["name"] in seen:
            raise ConfigError(f"server {server!r}: tools[{position}].name {tool['name']!r} is listed twice")
        seen.add(tool["name"])
        out.append(tool)
    return out


def _split_clauses(query: str) -> list[str]:
    """Steps of a multi-step request: sentences, and parts joined by 'then' / 'and' / ';'."""
    parts = re.split(r"(?:[.;!?\n]+\s+|,?\s+(?:and\s+then|then|after\s+that|and\s+also|also|and)\s+)", query)
    return [part for part in (p.strip(" ,") for p in parts) if len(terms(part)) >= 2][:MAX_CLAUSES]


class ToolIndex:
    """Searchable index of the tools of many MCP servers. Safe to search from many threads at once."""

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        cache_dir: Path | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._embedder = embedder or default_embedder()
        self._cache = EmbeddingCache(cache_dir, self._embedder.model_id) if cache_dir is not None else None
        self.tuning = tuning or Tuning()
        self._entries: dict[str, _ServerEntry] = {}
        self._hashes: dict[str, str] = {}
        self._write_lock = threading.Lock()
        self._snapshot = _Snapshot()

    # ------------------------------------------------------------------ updates
    def update_server(
        self,
        server: str,
        tools: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        description: str = "",
    ) -> bool:
        """Index (or re-index) one server's ``tools/list`` result. Returns whether anything changed."""
        return self.update_servers({server: tools}, descriptions={server: description})

    def update_servers(
        self,
        results: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]],
        *,
        descriptions: Mapping[str, str] | None = None,
    ) -> bool:
        """Index many servers at once (one snapshot rebuild). Unchanged servers cost a hash each."""
        descriptions = descriptions or {}
        parsed = {server: _tools_of(result, server) for server, result in results.items()}
        for server in parsed:
            if not server:
                raise ConfigError("server name must be a non-empty string")
        with self._write_lock:
            changed = False
            for server, tools in parsed.items():
                description = descriptions.get(server, "")
                digest = tool_hash(server, description, tools)
                if self._hashes.get(server) == digest:
                    continue
                self._entries[server] = self._build_entry(server, description, tools)
                self._hashes[server] = digest
                changed = True
            if changed:
                self._publish()
            return changed

    def remove_server(self, server: str) -> bool:
        with self._write_lock:
            if self._entries.pop(server, None) is None:
                return False
            self._hashes.pop(server, None)
            self._publish()
            return True

    def _build_entry(self, server: str, description: str, tools: list[Mapping[str, Any]]) -> _ServerEntry:
        fields = [tool_fields(server, description, tool) for tool in tools]
        field_terms = tuple(_field_terms(f) for f in fields)
        return _ServerEntry(
            name=server,
            tools=tuple(tools),
            terms=field_terms,
            term_sets=tuple({label: frozenset(ts) for label, ts in t.items()} for t in field_terms),
            vectors=self._embed_cached([f.embedding_text() for f in fields]),
            product_words=frozenset(w for w in words(server) if len(w) >= 3 and w not in PACKAGING_WORDS),
            operations=tuple(name_operation(str(tool["name"])) for tool in tools),
            prerequisites=server_prerequisites(tools),
        )

    def _embed_cached(self, texts: list[str]) -> FloatArray:
        model_id = self._embedder.model_id
        keys = [text_key(model_id, text) for text in texts]
        known = self._cache.get_many(keys) if self._cache is not None else {}
        missing = [i for i, key in enumerate(keys) if key not in known]
        fresh = self._embedder.embed([texts[i] for i in missing]) if missing else None
        if fresh is not None and self._cache is not None:
            self._cache.put_many({keys[i]: fresh[row] for row, i in enumerate(missing)})
        dims = fresh.shape[1] if fresh is not None else len(next(iter(known.values()))) if known else 0
        out = np.zeros((len(texts), dims), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in known:
                out[i] = known[key]
        if fresh is not None:
            out[missing] = fresh
        return out

    def save(self) -> None:
        """Persist newly computed embeddings (no-op without a cache directory)."""
        if self._cache is not None:
            self._cache.save()

    def _publish(self) -> None:
        entries = tuple(self._entries[name] for name in sorted(self._entries))
        keys = tuple((e.name, str(t["name"])) for e in entries for t in e.tools)
        field_terms = tuple(t for e in entries for t in e.terms)
        product_words: dict[str, list[int]] = {}
        for position, entry in enumerate(entries):
            for word in entry.product_words:
                product_words.setdefault(word, []).append(position)
        dims = max((e.vectors.shape[1] for e in entries if e.vectors.size), default=0)
        offsets = np.cumsum([0, *(len(e.tools) for e in entries)])
        self._snapshot = _Snapshot(
            servers=entries,
            keys=keys,
            tools=tuple(t for e in entries for t in e.tools),
            terms=field_terms,
            term_sets=tuple(t for e in entries for t in e.term_sets),
            server_of=np.array([i for i, e in enumerate(entries) for _ in e.tools], dtype=np.int32),
            vectors=np.concatenate([e.vectors for e in entries if e.tools])
            if keys
            else np.zeros((0, dims), np.float32),
            lexical=BM25F(field_terms),
            product_words={word: tuple(ids) for word, ids in product_words.items()},
            function_ids=_function_ids(keys),
            operation_ids=np.array(
                [0 if op is None else 1 + OPERATION_TOKENS.index(op) for e in entries for op in e.operations],
                dtype=np.int8,
            ),
            prerequisites=tuple(
                tuple((p, offsets[position] + np.array(p.producers, dtype=np.intp)) for p in needs)
                for position, entry in enumerate(entries)
                for needs in entry.prerequisites
            ),
            generation=self._snapshot.generation + 1,
        )

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._snapshot.keys)

    @property
    def servers(self) -> list[str]:
        return [entry.name for entry in self._snapshot.servers]

    @property
    def generation(self) -> int:
        """Increases on every change; lets callers cache what they derive from the index."""
        return self._snapshot.generation

    def tools(self, servers: Collection[str] | None = None) -> list[tuple[str, Mapping[str, Any]]]:
        """Every ``(server, tool definition)``, optionally of some servers only."""
        snap = self._snapshot
        return [
            (key[0], tool)
            for key, tool in zip(snap.keys, snap.tools, strict=True)
            if servers is None or key[0] in servers
        ]

    def get(self, server: str, tool: str) -> Mapping[str, Any] | None:
        entry = self._entries.get(server)
        return next((t for t in entry.tools if t["name"] == tool), None) if entry else None

    # ------------------------------------------------------------------ search
    def search(self, query: str, k: int = 5, *, servers: Collection[str] | None = None) -> list[ToolHit]:
        """The ``k`` tools that best serve ``query``, best first, optionally within some servers."""
        if k <= 0:
            raise ConfigError(f"k must be a positive integer, got {k}")
        snap = self._snapshot
        query = english_reading(query[:MAX_QUERY_CHARS])
        if not snap.keys or not words(query):
            return []  # nothing to match on: better no tools than arbitrary ones
        allowed = None
        if servers is not None:
            allowed = np.isin(snap.server_of, [i for i, e in enumerate(snap.servers) if e.name in servers])
        mentioned = self._mentioned_servers(snap, query)
        request_terms = query_terms(query)
        whole = self._scores(snap, query, mentioned, weights=request_terms)
        # the lookup that feeds the best tool goes right after it: no clause names the lookup, and behind
        # the clauses of a long request it would fall out of the top k
        leaders = _leaders(whole, allowed)
        lookups = self._prerequisite_tools(snap, query, request_terms, leaders, allowed)
        rankings = [whole] + [_only(len(whole), i, float(whole[i])) for i in lookups]
        clauses = _split_clauses(query)
        if len(clauses) > 1:
            rankings += [self._scores(snap, clause, mentioned) for clause in clauses]
        # companions first: the browser's own navigate tool goes before another product's fetch tool
        implied = self._companion_tools(snap, query, leaders) | self._implied_tools(snap, query, allowed)
        rankings += [_only(len(whole), i, float(whole[i])) for i in implied]
        step_of = lookups | implied
        order = _interleave(rankings, allowed, k, snap.function_ids)
        word_of = {stem: word for word in words(query) for stem in terms(word)}
        return [self._hit(snap, i, float(whole[i]), word_of, mentioned, step_of.get(i)) for i in order]

    def _implied_tools(self, snap: _Snapshot, query: str, allowed: npt.NDArray[np.bool_] | None) -> dict[int, str]:
        """The best tool for each step the request implies (by position), where one clearly does it."""
        out: dict[int, str] = {}
        for step in implied_steps(query):
            scores, cosines = self._step_scores(snap, step)
            if allowed is not None:
                scores = np.where(allowed, scores, -np.inf)
            best = int(np.argmax(scores))
            if np.isfinite(scores[best]) and float(cosines[best]) >= self.tuning.implied_step_floor:
                out.setdefault(best, step)
        return out

    def _companion_tools(self, snap: _Snapshot, query: str, leaders: list[int]) -> dict[int, str]:
        """The best tool for each companion step on each server of the request's best tools, where one
        clearly does it (the bar of implied steps: a browser's navigate tool passes it, a fetch tool,
        a Notion page reader or a link maker do not)."""
        steps = companion_steps(query)
        if not steps:
            return {}
        servers = dict.fromkeys(int(snap.server_of[i]) for i in leaders)
        out: dict[int, str] = {}
        for step in steps:
            scores, cosines = self._step_scores(snap, step)
            for server in servers:
                members = np.flatnonzero(snap.server_of == server)
                best = int(members[np.argmax(scores[members])])
                if float(cosines[best]) >= self.tuning.implied_step_floor:
                    out.setdefault(best, step)
        return out

    def _prerequisite_tools(
        self,
        snap: _Snapshot,
        query: str,
        request_terms: Mapping[str, float],
        leaders: list[int],
        allowed: npt.NDArray[np.bool_] | None,
    ) -> dict[int, str]:
        """The tool that looks up an identifier one of the request's best tools requires and the request
        does not hold (the deployment list for the merge requests of a deployment), if one does.

        One at most: each takes a place in the top k, and a second lookup was right less often than the
        tool it pushed out."""
        for leader in leaders:
            for prerequisite, producers in snap.prerequisites[leader]:
                if allowed is not None:
                    producers = producers[allowed[producers]]
                if producers.size and needed(prerequisite, query, request_terms):
                    scores, _ = self._step_scores(snap, prerequisite.step)
                    best = int(producers[np.argmax(scores[producers])])
                    return {best: f"{prerequisite.step} ({prerequisite.parameter} of {snap.keys[leader][1]})"}
        return {}

    def _step_scores(self, snap: _Snapshot, step: str) -> tuple[FloatArray, FloatArray]:
        known = snap.step_scores.get(step)
        if known is None:
            vector = self._embedder.embed([step])[0]
            known = snap.step_scores[step] = (self._scores(snap, step, set(), vector), snap.vectors @ vector)
        return known

    def _mentioned_servers(self, snap: _Snapshot, query: str) -> set[int]:
        out: set[int] = set()
        for word in dict.fromkeys(words(query)):
            out.update(snap.product_words.get(word, ()))
        return out

    def _scores(
        self,
        snap: _Snapshot,
        text: str,
        mentioned: set[int],
        vector: FloatArray | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> FloatArray:
        """Fused score of every tool for ``text``; ``vector`` is its embedding and ``weights`` its
        ``query_terms`` when already known."""
        tune = self.tuning
        lexical = snap.lexical.scores(query_terms(text) if weights is None else weights)
        top = float(lexical.max())
        if top > 0:
            lexical = lexical / top
        if vector is None and snap.vectors.size:
            vector = self._embedder.embed([intent_text(text)])[0]
        dense = snap.vectors @ vector if vector is not None else np.zeros_like(lexical)
        fused = tune.lexical * lexical + tune.dense * dense
        asked = request_operation(text)
        if asked is not None:
            agreement = np.array([0.0, *(self._agreement(asked, op) for op in OPERATION_TOKENS)], dtype=np.float32)
            fused = fused + agreement[snap.operation_ids]
        if mentioned:
            boost = np.zeros(len(snap.servers), dtype=np.float32)
            boost[list(mentioned)] = tune.server_mention
            fused = fused + boost[snap.server_of]
        return fused.astype(np.float32, copy=False)

    def _agreement(self, asked: str, op: str) -> float:
        """Score adjustment for a tool doing ``op`` when the request asks for ``asked``."""
        if op == asked:
            return self.tuning.operation_match
        if (op in READ_OPERATIONS) == (asked in READ_OPERATIONS or asked == READ):
            return self.tuning.operation_match / 2  # reading another way, or writing another way
        return -self.tuning.operation_mismatch

    @staticmethod
    def _hit(
        snap: _Snapshot, i: int, score: float, word_of: dict[str, str], mentioned: set[int], step: str | None
    ) -> ToolHit:
        """``word_of`` maps the request's search terms back to the words the user wrote; ``step`` is the
        implied step the tool was picked for, if any."""
        server, name = snap.keys[i]
        why = [
            f"{label}: {', '.join(sorted({word_of[t] for t in matched}))}"
            for label, field_terms in snap.term_sets[i].items()
            if label != "server" and (matched := word_of.keys() & field_terms)
        ]
        if int(snap.server_of[i]) in mentioned:
            why.append(f"request names {server}")
        if step is not None:
            why.append(f"implied step: {step}")
        if not why:
            why.append("similar meaning")
        return ToolHit(server=server, name=name, score=round(score, 4), tool=snap.tools[i], why=tuple(why))


def _field_terms(fields: ToolFields) -> dict[str, list[str]]:
    # resource nouns become concept tokens too, so "ping" in a request meets "post_message", and
    # server names do, so "remember" meets a server called memory
    return {
        "name": (name := terms(fields.name)) + operation_terms(name) + concept_terms(words(fields.name)),
        "title": terms_and_concepts(fields.title),
        "description": terms_and_concepts(f"{fields.description} {fields.gloss}"),
        "parameters": terms_and_concepts(fields.parameters),
        "server": terms_and_concepts(fields.server),
    }


def _leaders(whole: FloatArray, allowed: npt.NDArray[np.bool_] | None) -> list[int]:
    """The request's best ``COMPANION_LEADERS`` tools (among the allowed), best first, ties by position."""
    ranked = whole if allowed is None else np.where(allowed, whole, -np.inf)
    top = (
        np.argpartition(-ranked, COMPANION_LEADERS - 1)[:COMPANION_LEADERS]
        if len(ranked) > COMPANION_LEADERS
        else np.arange(len(ranked))
    )
    return [i for i in sorted(top.tolist(), key=lambda i: (-ranked[i], i)) if np.isfinite(ranked[i])]


def _only(size: int, i: int, score: float) -> FloatArray:
    """A ranking holding one tool."""
    out = np.full(size, -np.inf, dtype=np.float32)
    out[i] = score
    return out


def _function_ids(keys: Sequence[tuple[str, str]]) -> npt.NDArray[np.int32]:
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(" ".join(words(name)), len(ids)) for _, name in keys], dtype=np.int32)


def _interleave(
    rankings: Sequence[FloatArray],
    allowed: npt.NDArray[np.bool_] | None,
    k: int,
    function_ids: npt.NDArray[np.int32],
) -> list[int]:
    """Round-robin over the rankings (whole request first), skipping tools already taken.

    A tool doing the same job as one already taken (same name on another server) goes after the
    others: the second copy rarely adds anything, a tool for another step of the request might."""
    orders: list[Iterable[int]] = []
    for scores in rankings:
        masked = scores if allowed is None else np.where(allowed, scores, -np.inf)
        take = min(len(masked), 2 * k * len(rankings))  # room to pass over repeats
        top = np.argpartition(-masked, take - 1)[:take] if take < len(masked) else np.arange(len(masked))
        top = top[np.lexsort((top, -masked[top]))]  # by score, ties by position: deterministic
        orders.append(top[np.isfinite(masked[top])].tolist())
    out: list[int] = []
    repeats: list[int] = []
    seen: set[int] = set()
    functions: set[int] = set()
    iterators = [iter(o) for o in orders]
    while len(out) < k and iterators:
        for it in list(iterators):
            for i in it:
                if i in seen:
                    continue
                seen.add(i)
                if int(function_ids[i]) in functions:
                    repeats.append(i)
                    continue
                functions.add(int(function_ids[i]))
                out.append(i)
                break
            else:
                iterators.remove(it)
            if len(out) >= k:
                break
    return (out + repeats)[:k]
