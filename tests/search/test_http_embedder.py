"""HttpEmbedder against a real OpenAI-compatible embeddings server on loopback.

The server computes vectors with the shipped static model, so retrieval through HTTP must match
retrieval in process; the failure cases check that a broken endpoint is named precisely.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hivekeeper.errors import UnavailableError
from hivekeeper.search import HttpEmbedder, ToolIndex, default_embedder, load_catalog
from tests.conftest import free_port, wait_for_http

CATALOG = Path(__file__).resolve().parent / "catalog_fixture.json"


async def embeddings(request: Request) -> Response:
    body = await request.json()
    if body.get("model") == "broken":
        return JSONResponse({"unexpected": True})
    if body.get("model") == "overloaded":
        return PlainTextResponse("model is loading", status_code=503)
    vectors = default_embedder().embed(body["input"])
    data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
    return JSONResponse({"object": "list", "model": body["model"], "data": data[::-1]})  # any order is allowed


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    app = Starlette(
        routes=[Route("/v1/embeddings", embeddings, methods=["POST"]), Route("/", lambda _: PlainTextResponse("ok"))]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_http(f"http://127.0.0.1:{port}/")
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_search_through_an_embeddings_endpoint_matches_in_process(
    endpoint: str, index: ToolIndex, tmp_path: Path
) -> None:
    remote = ToolIndex(HttpEmbedder(endpoint, "minilm-static", batch_size=16), cache_dir=tmp_path)
    catalog = load_catalog(CATALOG)
    remote.update_servers(catalog.tools, descriptions=catalog.descriptions)
    remote.save()
    for query in ("commit staged changes", "what time is it in Tokyo", "post a message to slack"):
        assert [h.key for h in remote.search(query, k=5)] == [h.key for h in index.search(query, k=5)]
    assert list(tmp_path.glob("embeddings-http-*.npz")), "vectors of another model must be cached apart"


@pytest.mark.parametrize(
    ("model", "message"),
    [("broken", r"expected \{data: \[\{index, embedding\}\]\}"), ("overloaded", "answered HTTP 503")],
)
def test_bad_answers_are_named(endpoint: str, model: str, message: str) -> None:
    with pytest.raises(UnavailableError, match=message):
        HttpEmbedder(endpoint, model).embed(["hello"])


def test_unreachable_endpoint_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(UnavailableError, match="unreachable"):
        HttpEmbedder(url, "any", timeout=2).embed(["hello"])
