"""``hivekeeper tools``: find the tools a request needs across MCP servers.

Other parts add their commands to ``tools_app`` (e.g. the gateway's ``tools approve``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import typer

from hivekeeper import paths
from hivekeeper.cli.output import JsonOption, console, emit, print_table

if TYPE_CHECKING:  # the search stack (numpy, model2vec) loads only when a command runs
    from hivekeeper.search import ToolIndex

tools_app = typer.Typer(help="Find, review and approve the tools of MCP servers.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")


def build_index(
    catalog: Path,
    *,
    use_cache: bool = True,
    embeddings_url: str | None = None,
    embeddings_model: str = "",
    transformer: bool = False,
) -> ToolIndex:
    from hivekeeper.search import TRANSFORMER_TUNING, HttpEmbedder, ToolIndex, load_catalog, transformer_embedder

    loaded = load_catalog(catalog)
    embedder = (
        HttpEmbedder(embeddings_url, embeddings_model)
        if embeddings_url
        else transformer_embedder()
        if transformer
        else None
    )
    index = ToolIndex(
        embedder,
        cache_dir=paths.cache_dir() / "search" if use_cache else None,
        tuning=TRANSFORMER_TUNING if transformer else None,
    )
    index.update_servers(loaded.tools, descriptions=loaded.descriptions)
    index.save()
    return index


@tools_app.command("find")
def find(
    query: str | None = typer.Argument(
        None, help='The request. Without it, answer JSON lines {"query", "k"} from stdin (tseval protocol).'
    ),
    catalog: Path = typer.Option(..., "--catalog", help="JSON catalogue: [{server, tools}] or {server: tools/list}."),
    k: int = typer.Option(5, "--k", "-k", min=1, help="How many tools to return."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse embeddings persisted in the cache dir."),
    embeddings_url: str | None = typer.Option(
        None,
        "--embeddings-url",
        help="OpenAI-compatible embeddings API (e.g. http://127.0.0.1:8081/v1) instead of the shipped model.",
    ),
    embeddings_model: str = typer.Option("", "--embeddings-model", help="Model name sent to --embeddings-url."),
    transformer: bool = typer.Option(
        False,
        "--transformer",
        help="Add the shipped MiniLM transformer (ONNX) to the static model: better "
        "recall, but milliseconds per query and a minute or more to embed a large catalogue the first time.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Rank the catalogue's tools for a request, with token savings; or serve JSON lines on stdin."""
    started = time.perf_counter()
    index = build_index(
        catalog,
        use_cache=cache,
        embeddings_url=embeddings_url,
        embeddings_model=embeddings_model,
        transformer=transformer,
    )
    if query is None:
        serve_json_lines(
            index, sys.stdin, sys.stdout, default_k=k, build_ms=round((time.perf_counter() - started) * 1000, 1)
        )
        return
    from hivekeeper.search import ToolSelector

    emit(ToolSelector(index).select(query, k).as_dict(), as_json, _render)


def _render(data: dict[str, Any]) -> None:
    print_table(
        None,
        ["#", "server", "tool", "score", "why"],
        [(i, t["server"], t["name"], f"{t['score']:.3f}", "; ".join(t["why"])) for i, t in enumerate(data["tools"], 1)],
    )
    tokens = data["tokens"]
    console.print(
        f"{tokens['selected']:,} of {tokens['full']:,} tool tokens (cl100k): "
        f"{tokens['reduction']:.1%} fewer than the full list",
        highlight=False,
    )


def answer_line(index: ToolIndex, line: str, default_k: int) -> dict[str, Any]:
    """One JSON-lines request -> ``{"results": ...}``, or ``{"error": ...}`` naming what is wrong."""
    try:
        request = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return {"error": f"malformed JSON: {exc}"}
    if not isinstance(request, dict):
        return {"error": 'expected an object {"query": str, "k": int}'}
    query, k = request.get("query"), request.get("k", default_k)
    if not isinstance(query, str):
        return {"error": "query must be a string"}
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        return {"error": f"k must be a positive integer, got {k!r}"}
    return {"results": [[hit.server, hit.name] for hit in index.search(query, k)]}


def serve_json_lines(index: ToolIndex, stdin: TextIO, stdout: TextIO, *, default_k: int, build_ms: float) -> None:
    """Answer each non-blank line with one flushed line; bad lines get an error line, the loop goes on.
    Error lines carry no "results" key, so harnesses that wait for results never mistake them."""
    first = True
    for line in stdin:
        if not line.strip():
            continue
        answer = answer_line(index, line, default_k)
        if first and "results" in answer:
            answer["build_ms"], first = build_ms, False
        stdout.write(orjson.dumps(answer).decode() + "\n")
        stdout.flush()


__all__ = ["answer_line", "build_index", "register", "serve_json_lines", "tools_app"]
