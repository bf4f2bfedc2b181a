"""Turning tool definitions and requests into text: fields, identifier splitting, search terms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import Stemmer  # type: ignore[import-not-found]  # PyStemmer ships no type hints
from bm25s.stopwords import STOPWORDS_EN_PLUS

from hivekeeper.search import lexicon
from hivekeeper.search.gloss import english_gloss

# camelCase and acronym boundaries (getHTTPServer), but not a plural acronym (PRs, APIs)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])(?![A-Z]s\b)")
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|(?<=[。！？])")
# Han, kana and hangul are written without spaces between words.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | frozenset(
    # conversational filler of chat requests; not tool vocabulary
    {"please", "pls", "can", "could", "would", "want", "need", "like", "hey", "thanks", "ok", "okay"}
)
# Words that name how a server is packaged, never what it does.
PACKAGING_WORDS = frozenset({"mcp", "server", "legacy", "ts", "py", "official", "api", "the"})
_stemmer = Stemmer.Stemmer("english")


def split_identifier(text: str) -> str:
    """``getMergeRequest`` / ``get_merge_request`` / ``get-merge.request`` -> ``get merge request``."""
    return _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ").replace(".", " ").replace("/", " ")


_stems: dict[str, str] = {}
_MAX_STEMS = 500_000  # a bound against unbounded vocabularies (random ids in requests)


def _stem(word: str) -> str:
    stem = _stems.get(word)
    if stem is None:
        stem = str(_stemmer.stemWord(word))
        if len(_stems) < _MAX_STEMS:
            _stems[word] = stem
    return stem


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` with identifiers split; CJK runs become characters and bigrams."""
    out: list[str] = []
    for word in _WORD.findall(split_identifier(text).lower()):
        if not word.isascii() and _CJK.search(word):
            # the usual CJK indexing: characters plus overlapping bigrams
            out.extend(word)
            out.extend(word[i : i + 2] for i in range(len(word) - 1))
        else:
            out.append(word)
    return out


def terms(text: str) -> list[str]:
    """Search terms: words without stopwords, stemmed (``approvals`` and ``approve`` meet)."""
    return [_stem(w) for w in words(text) if w not in _STOPWORDS]


# Operation verbs of tool APIs: a request says "open an issue" or "kill it", a tool is named
# create_issue or delete_process. Each class maps to its canonical token, added next to the word.
_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "create": (
        "create",
        "add",
        "new",
        "make",
        "open",
        "post",
        "file",
        "submit",
        "insert",
        "write",
        "book",
        "schedule",
        "start",
        "spin",
        "launch",
        "register",
        "upload",
        "put",
        "send",
        "generate",
        "remember",
        "memorize",
    ),
    "get": (
        "get",
        "show",
        "read",
        "fetch",
        "view",
        "retrieve",
        "describe",
        "display",
        "inspect",
        "check",
        "detail",
        "details",
        "download",
        "pull",
        "grab",
        "see",
        "tell",
    ),
    "list": ("list", "every", "enumerate", "browse"),
    "search": ("search", "find", "query", "lookup", "locate", "where", "look", "filter", "grep", "discover"),
    "update": (
        "update",
        "edit",
        "change",
        "modify",
        "set",
        "rename",
        "move",
        "mark",
        "patch",
        "assign",
        "transition",
        "toggle",
        "adjust",
        "replace",
        "tag",
        "label",
    ),
    "delete": (
        "delete",
        "remove",
        "kill",
        "drop",
        "destroy",
        "erase",
        "purge",
        "cancel",
        "stop",
        "terminate",
        "uninstall",
        "clear",
        "close",
        "archive",
        "revoke",
    ),
}
_OPERATION_OF = {_stem(word): f"op{op}" for op, verbs in _OPERATIONS.items() for word in verbs}
OPERATION_TOKENS = tuple(f"op{op}" for op in _OPERATIONS)

# Jargon that names a concept tools spell out in full.
_ABBREVIATIONS: Mapping[str, str] = {
    "pr": "pull request",
    "prs": "pull requests",
    "mr": "merge request",
    "mrs": "merge requests",
    "repo": "repository",
    "repos": "repositories",
    "k8s": "kubernetes",
    "db": "database",
    "dbs": "databases",
    "msg": "message",
    "msgs": "messages",
    "env": "environment",
    "envs": "environments",
    "config": "configuration",
    "ci": "pipeline build workflow",
    "cd": "deployment",
    "doc": "document",
    "docs": "documentation",
    "dir": "directory",
    "dirs": "directories",
    "info": "information",
    "auth": "authentication",
    "org": "organization",
    "orgs": "organizations",
    "perf": "performance",
    "dm": "direct message",
    "vm": "virtual machine",
    "url": "url link",
    "img": "image",
    "pic": "image",
    "calc": "calculate",
    "stats": "statistics",
    "ts": "timestamp",
    "txn": "transaction",
    "addr": "address",
    "num": "number",
    "pw": "password",
    "pwd": "password",
    "creds": "credentials",
    "sso": "single sign on",
    "qa": "test",
    "eta": "estimate time",
    "asap": "",
    "fyi": "",
    "tmrw": "tomorrow",
    "mins": "minutes",
    "min": "minute",
    "hrs": "hours",
    "hr": "hour",
    "wk": "week",
    "mo": "month",
    "yr": "year",
}
# Tokens that are arguments rather than intent: identifiers, paths, numbers, e-mail addresses, URLs.
_ARGUMENT = re.compile(r"\S*[\w][/@:.#!$][\w]\S*|\S*\d\S*|\S+-\S+|#\S+|!\S+")
_QUOTED = re.compile(r"'[^']{2,}'|\"[^\"]{2,}\"|“[^”]{2,}”|`[^`]+`")
ARGUMENT_WEIGHT = 0.5
# What a message or a note is to say: "... saying we'll revisit in Jan", "email them that i'm late",
# "remember that Dana prefers async updates". Like quoted text, it is what to deliver, not which tool.
_PAYLOAD = re.compile(
    r"\b(?:saying|to say)\s+(?P<said>[^.;!?\n]+)"
    # "tell me the PRs that merged" asks to be shown something: there "that" starts a description of it
    r"|\b(?:remember|note|tell|remind|email|text|message|notify|inform|know|warn)\b(?!\s+(?:me|us)\b)"
    r"[^.;!?\n]{0,50}?\bthat\s+(?P<told>[^.;!?\n]+)",
    re.IGNORECASE,
)


# A channel named as the verb of a sentence means sending on it: "text +1 415 555 0199 ...",
# "email the attendees that ...", "ping Alex about ...". The words of tools say "send".
_CHANNEL_VERB = re.compile(
    r"(^|[.;!?]\s+|\b(?i:and|then|also)\s+)((?i:e-?mail|text|sms|message|dm|ping|slack))"
    # ... followed by whom: a number, a handle, a name or a pronoun ("text file contents" is no sending)
    r"(?=\s+(?:\+\d|\(?\d{3}\)?[\s.-]?\d{3}|[@#]\w|[A-Z][a-z]|(?i:me|him|her|them|us|everyone|the|my|our|all)\b))"
)


def _spell_out_sending(text: str) -> str:
    return _CHANNEL_VERB.sub(lambda m: f"{m.group(1)}send {m.group(2)} message", text)


def _split_payloads(text: str) -> tuple[str, list[str]]:
    """``text`` without what its messages and notes are to say, and those payloads."""
    payloads = [match.group("said") or match.group("told") for match in _PAYLOAD.finditer(text)]
    for payload in payloads:
        text = text.replace(payload, " ")
    return text, payloads


def _intent_words(text: str) -> str:
    """``text`` without what it acts on or delivers: quoted text, arguments and payloads."""
    return _ARGUMENT.sub(" ", _QUOTED.sub(" ", _split_payloads(_spell_out_sending(text))[0]))


# Concept classes of the lexicon, keyed by the stems of their member words and two-word phrases.
def _concept_index(concepts: Mapping[str, tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    index: dict[tuple[str, ...], tuple[str, ...]] = {}
    for concept, members in concepts.items():
        for member in members:
            key = tuple(_stem(w) for w in words(member))
            if lexicon.token(concept) not in index.get(key, ()):
                index[key] = (*index.get(key, ()), lexicon.token(concept))
    return index


_CONCEPT_OF = _concept_index(lexicon.CONCEPTS)
# A concept shared with a tool is weaker evidence than a word shared with it.
CONCEPT_WEIGHT = 0.5
ARG_CONCEPT_WEIGHT = 0.75


def concept_terms(text_words: list[str]) -> list[str]:
    """Concept tokens of the words (in order, stopwords kept: "on call") of one text."""
    stems = [_stem(w) for w in text_words]
    out: list[str] = []
    for i, stem in enumerate(stems):
        out.extend(_CONCEPT_OF.get((stem,), ()))
        if i + 1 < len(stems):
            out.extend(_CONCEPT_OF.get((stem, stems[i + 1]), ()))
    return out


def terms_and_concepts(text: str) -> list[str]:
    """``terms(text)`` followed by the concept tokens of its words (for the fields of a tool)."""
    text_words = words(text)
    return [_stem(w) for w in text_words if w not in _STOPWORDS] + concept_terms(text_words)


def operation_terms(stems: list[str]) -> list[str]:
    """Canonical operation tokens for the verbs among ``stems``."""
    return [_OPERATION_OF[s] for s in stems if s in _OPERATION_OF]


def name_operation(name: str) -> str | None:
    """The operation token of what a tool's name does (``jira_get_issue`` -> ``opget``), if any.

    Names put their verb first or last (``get_issue``, ``repo_pull_request_write``); a verb in
    between is mostly part of the resource's name (``pull_request``, ``schedule_override``), so it
    counts only when neither end is one."""
    found = [_OPERATION_OF.get(_stem(word)) for word in words(name)]
    return next((op for op in found[:1] + found[-1:] + found if op is not None), None)


# A question asks to read something ("which monitors are alerting", "did anything ship").
_QUESTION_WORDS = frozenset(
    {"what", "which", "who", "whose", "how", "when", "why", "is", "are", "any", "did", "does", "do", "has", "have"}
)
READ = "opread"  # get, list or search: whichever a question needs
READ_OPERATIONS = frozenset({"opget", "oplist", "opsearch"})  # the other operations write


def request_operation(text: str) -> str | None:
    """The operation token of what a request (or one step of it) asks to do: its first operation
    verb, since imperatives lead with it ("add Dune to my list", "find papers on ..."), or ``READ``
    when a question word comes first. Verbs inside arguments do not count."""
    plain = _intent_words(text)
    for word in words(plain):
        if word in _QUESTION_WORDS:
            return READ
        if word not in _STOPWORDS and (operation := _OPERATION_OF.get(_stem(word))) is not None:
            return operation
    return None


def query_terms(text: str) -> dict[str, float]:
    """Weighted search terms of a request. Quoted text, identifiers, paths and numbers weigh less:
    they name what to act on ("acme/payments-api", "'Fix login timeout'"), not which tool to use."""
    weights: dict[str, float] = {}
    text = _spell_out_sending(text)

    def put(term: str, weight: float) -> None:
        weights[term] = max(weights.get(term, 0.0), weight)

    def add(fragment: str, weight: float) -> None:
        expanded: list[str] = []
        for word in words(fragment):
            expansion = _ABBREVIATIONS.get(word)
            expanded.extend(words(expansion) if expansion is not None else [word])
        for term in (_stem(w) for w in expanded if w not in _STOPWORDS):
            put(term, weight)
            operation = _OPERATION_OF.get(term)
            if operation is not None:
                put(operation, weight * 0.5)
        for concept in concept_terms(expanded):
            put(concept, weight * CONCEPT_WEIGHT)

    for concept in concept_terms(lexicon.argument_kinds(text)):
        put(concept, ARG_CONCEPT_WEIGHT)
    plain, payloads = _split_payloads(text)
    for payload in payloads:
        add(payload, ARGUMENT_WEIGHT)
    for pattern in (_QUOTED, _ARGUMENT):
        for argument in pattern.findall(plain):
            add(argument, ARGUMENT_WEIGHT)
        plain = pattern.sub(" ", plain)
    add(plain, 1.0)
    return weights


def intent_text(text: str) -> str:
    """The request's content words without its arguments, for embedding (falls back to the whole
    text). A static model averages every word it is given, so filler words only blur the meaning."""
    stripped = _intent_words(text)
    content = [w for w in words(stripped) if w not in _STOPWORDS]
    # the arguments are gone, what kind of thing they are stays ("+14155550123" -> "phone message")
    content += lexicon.argument_kinds(text)
    return " ".join(content) if content else text


@dataclass(frozen=True, slots=True)
class ToolFields:
    """The searchable text of one tool, field by field (BM25F weighs them differently)."""

    name: str
    title: str
    description: str
    parameters: str
    server: str
    required: str = ""  # names of the first required parameters
    gloss: str = ""  # English for a description written in Chinese

    def embedding_text(self) -> str:
        # A static model averages word vectors: the short, dense fields and the description's
        # opening (which says what the tool does) must not drown in usage notes and parameters.
        # Measured: whole descriptions + parameters cut dense-only recall@5 by a fifth.
        # The few required parameters are the exception: they say what the tool acts on, the way a
        # request does ("comments by author", "numbers by area code").
        lead = " ".join(_SENTENCE_END.split(self.description.strip())[:2])
        if self.gloss:
            lead = english_gloss(lead) or lead
        required = f" by {self.required}" if self.required else ""
        return f"{self.server}: {self.name} {self.title}. {lead}{required}".strip()


def _schema_text(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return ""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ""
    parts: list[str] = []
    for name, spec in properties.items():
        parts.append(split_identifier(str(name)))
        if isinstance(spec, Mapping) and isinstance(spec.get("description"), str):
            parts.append(spec["description"])
    return " ".join(parts)


MAX_REQUIRED = 3  # more required parameters are configuration, not what the tool is about


def _required_text(schema: Any) -> str:
    required = schema.get("required") if isinstance(schema, Mapping) else None
    if not isinstance(required, list):
        return ""
    return " ".join(split_identifier(str(name)) for name in required[:MAX_REQUIRED])


def tool_fields(server: str, server_text: str, tool: Mapping[str, Any]) -> ToolFields:
    """Extract the searchable fields of one ``tools/list`` entry."""
    name = str(tool.get("name", ""))
    annotations = tool.get("annotations") if isinstance(tool.get("annotations"), Mapping) else {}
    title = tool.get("title") or (annotations or {}).get("title") or ""
    description = str(tool.get("description") or "")
    return ToolFields(
        name=f"{split_identifier(name)} {name}",
        title=str(title),
        description=description,
        parameters=_schema_text(tool.get("inputSchema")),
        server=f"{split_identifier(server)} {server_text}".strip(),
        required=_required_text(tool.get("inputSchema")),
        gloss=english_gloss(description),
    )
