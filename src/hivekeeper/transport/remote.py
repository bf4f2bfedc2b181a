"""``HttpBackend``: a remote MCP server over Streamable HTTP (2026-07-28 or 2025-11-25) or legacy HTTP+SSE.

A URL whose path ends in ``/sse`` is taken as the 2024-11-05 HTTP+SSE transport (a GET stream announcing a
POST endpoint); anything else is Streamable HTTP, whose era the handshake probes. Each request is one POST whose
JSON or SSE answer is read in its own task, so everything on that stream (progress, server requests) is tied
to the call exactly. A 2025-era session also keeps a GET stream open for messages outside any call; an expired
session (404) is re-initialized.

A server that refuses our credentials (HTTP 401/403) fails the call at once with the status and the
``WWW-Authenticate`` challenge, and the backend goes down with that reason: calls are refused on the spot
instead of waiting out their timeout for a readiness that will not come, and a handshake is retried with
backoff in the background, so a fixed token (or a server that accepts it again) brings the backend back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Final, NoReturn
from urllib.parse import urljoin, urlsplit

import httpx

from hivekeeper.transport.backend import Backend, BackendUnavailable, Era, _Call
from hivekeeper.transport.envelope import request_headers
from hivekeeper.transport.jsonrpc import (
    CONNECTION_CLOSED,
    LATEST_MODERN_VERSION,
    MODERN_PROTOCOL_VERSIONS,
    Message,
    dumps,
    error_body,
    loads,
)

logger = logging.getLogger(__name__)

RECONNECT_FIRST: Final = 0.25
RECONNECT_MAX: Final = 30.0


class HttpBackend(Backend):
    """A remote server. ``headers`` go on every request (an ``Authorization`` header, say)."""

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        timeout: float = 60.0,
        era: Era = "auto",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.legacy_sse = urlsplit(url).path.rstrip("/").endswith("/sse")
        super().__init__(name=name or url, timeout=timeout, era="2025-11-25" if self.legacy_sse else era)
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None
        self._session_id: str | None = None
        self._wire_version: str | None = None
        self._endpoint: asyncio.Future[str] | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._rehandshake: asyncio.Task[None] | None = None
        self._last_failure: str | None = None
        self._refusal: str | None = None  # why the server last refused our credentials, until it accepts them
        self._refused_now = asyncio.Event()  # wakes whoever waits for readiness when a refusal arrives

    async def start(self) -> None:
        if self._client is not None:
            return
        # Reads may idle for as long as a call may take; connecting should be quick.
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout + 5, connect=10.0))
        try:
            if self.legacy_sse:
                self._stream_task = asyncio.create_task(self._sse_stream_loop())
                endpoint = await asyncio.wait_for(self._endpoint_future(), self.timeout)
                logger.info("backend %s posts to %s", self.name, endpoint)
            await self._introduce()
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            await self._abort_start(self._refusal or f"unreachable: {exc or type(exc).__name__}")
        except BackendUnavailable as exc:
            await self._abort_start(self._refusal or f"unreachable: {self._last_failure or exc}")
        if not self.legacy_sse and self._session_id is not None:
            self._stream_task = asyncio.create_task(self._get_stream_loop())

    async def _abort_start(self, reason: str) -> NoReturn:
        """A failed start leaves nothing behind (a later ``start`` tries afresh) and ``down_reason`` says why."""
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(BaseException):
                await self._stream_task
            self._stream_task = None
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self._endpoint = None
        self._connection_lost(reason)
        raise BackendUnavailable(f"backend {self.name} {reason}") from None

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """False at once while the server refuses our credentials (also when the refusal comes during the
        wait): they do not fix themselves within a call's timeout, so nobody should wait it out."""
        if self.ready or self._refusal is not None:
            return self.ready
        waits = {asyncio.ensure_future(super().wait_ready(timeout)), asyncio.ensure_future(self._refused_now.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self.ready

    async def aclose(self) -> None:
        for task in (self._stream_task, self._rehandshake):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        client, self._client = self._client, None
        if client is not None:
            if self._session_id is not None and not self.legacy_sse:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(self.url, headers=self._request_headers(None))
            await client.aclose()
        self._connection_lost("stopped", final=True)
        await self._cancel_background()

    async def _introduce(self) -> None:
        self._session_id = None
        self._wire_version = LATEST_MODERN_VERSION if self.era != "2025-11-25" else None
        identity = await super()._handshake()
        self._refusal = None
        self._refused_now.clear()
        if not identity.modern:
            self._wire_version = identity.protocol_version

    async def _send(self, message: Message, call: _Call | None) -> None:
        client = self._client
        if client is None:
            raise ConnectionError("not connected")
        if self.legacy_sse:
            response = await client.post(await self._endpoint_future(), content=dumps(message), headers=self._base())
            if (refusal := _auth_refusal(response)) is not None:
                self._refused(refusal, call)
            elif response.status_code >= 400 and call is not None:
                self._fail(call, f"HTTP {response.status_code} from the message endpoint")
            return
        if call is None:
            # Notifications and our answers to the server's requests: the body of the reply carries nothing.
            await client.post(self.url, content=dumps(message), headers=self._request_headers(message))
            return
        if message.get("method") in ("server/discover", "initialize"):
            await self._post(message, call)  # the handshake reads the session id before anything else goes out
        else:
            self._spawn(self._post(message, call))

    async def _post(self, message: Message, call: _Call) -> None:
        client = self._client
        assert client is not None
        answered = "no response"
        try:
            async with client.stream(
                "POST", self.url, content=dumps(message), headers=self._request_headers(message)
            ) as response:
                answered = f"HTTP {response.status_code}"
                if message.get("method") == "initialize" and (sid := response.headers.get("mcp-session-id")):
                    self._session_id = sid
                content_type = response.headers.get("content-type", "")
                if (refusal := _auth_refusal(response)) is not None:
                    # Checked before the body: an auth layer answers in OAuth's JSON shape, not JSON-RPC.
                    self._refused(refusal, call)
                elif content_type.startswith("text/event-stream"):
                    async for data in _sse_data(response):
                        await self._receive_data(data, call)
                elif content_type.startswith("application/json"):
                    await self._receive_data(await response.aread(), call)
                elif response.status_code == 404 and self._session_id is not None:
                    self._session_expired()
                    self._fail(call, "session expired upstream (HTTP 404); reconnecting")
                else:
                    self._fail(call, f"HTTP {response.status_code} with no JSON-RPC answer")
        except httpx.HTTPError as exc:
            self._fail(call, f"request failed: {exc or type(exc).__name__}")
        # A stream that ended without answering leaves the call to its timeout; say why right away instead.
        self._fail(call, f"{answered}: the response ended without a JSON-RPC answer")

    async def _receive_data(self, data: bytes, call: _Call | None) -> None:
        try:
            message = loads(data)
        except ValueError:
            logger.warning("backend %s sent non-JSON: %.200r", self.name, data)
            return
        if not isinstance(message, dict):
            return
        if "method" not in message and "result" not in message and not isinstance(message.get("error"), dict):
            # JSON, but not JSON-RPC (an HTTP error page in JSON, say): no answer; the caller says why.
            logger.warning("backend %s sent JSON that is not a JSON-RPC message: %.200r", self.name, data)
            return
        if call is not None and "method" not in message and message.get("id") is None:
            message["id"] = call.id  # a transport-level rejection (id null) still answers this call
        await self._receive(message, call)

    def _fail(self, call: _Call, reason: str, data: Message | None = None) -> None:
        if self._pending.pop(call.id, None) is not None:
            self._last_failure = reason
            self._finish(call, error_body(CONNECTION_CLOSED, f"backend {self.name}: {reason}", data))

    def _refused(self, refusal: _Refusal, call: _Call | None) -> None:
        """The server refused our credentials: fail ``call`` now and go down until a handshake is accepted."""
        self._refusal = refusal.reason
        self._refused_now.set()
        if call is not None:
            self._fail(call, refusal.reason, refusal.data(self.name))
        if self.ready:  # not while (re)introducing ourselves: start() and _reconnect() handle that
            logger.warning("backend %s %s", self.name, refusal.reason)
            self._connection_lost(refusal.reason, refusal.data(self.name))
            if self._rehandshake is None or self._rehandshake.done():
                self._rehandshake = asyncio.create_task(self._reconnect())

    def _session_expired(self) -> None:
        if self._rehandshake is None or self._rehandshake.done():
            self._connection_lost("session expired upstream")
            self._rehandshake = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = RECONNECT_FIRST
        while True:
            try:
                await self._introduce()
                return
            except (httpx.HTTPError, OSError, BackendUnavailable) as exc:
                logger.warning("backend %s: reconnect failed (%s); retrying in %.2f s", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)

    def _base(self) -> dict[str, str]:
        return {**self._headers, "content-type": "application/json", "accept": "application/json, text/event-stream"}

    def _request_headers(self, message: Message | None) -> dict[str, str]:
        headers = self._base()
        version = self._wire_version
        method = message.get("method") if message is not None else None
        if version is not None and method != "initialize":
            headers["mcp-protocol-version"] = version
        if self._session_id is not None:
            headers["mcp-session-id"] = self._session_id
        if version in MODERN_PROTOCOL_VERSIONS and message is not None and "id" in message and "method" in message:
            headers.update(request_headers(message, version))
        headers.update(_trace_headers(message))
        return headers

    # ---- streams outside calls --------------------------------------------------------------------------

    def _endpoint_future(self) -> asyncio.Future[str]:
        if self._endpoint is None:
            self._endpoint = asyncio.get_running_loop().create_future()
        return self._endpoint

    async def _get_stream_loop(self) -> None:
        """2025-era GET stream: the server's messages outside any call. 405 means the server has none."""
        delay = RECONNECT_FIRST
        while self._client is not None:
            try:
                headers = {**self._request_headers(None), "accept": "text/event-stream"}
                async with self._client.stream("GET", self.url, headers=headers, timeout=None) as response:
                    if response.status_code == 405:
                        return
                    if response.status_code == 200:
                        delay = RECONNECT_FIRST
                        async for data in _sse_data(response):
                            await self._receive_data(data, None)
            except httpx.HTTPError as exc:
                logger.info("backend %s: GET stream dropped (%s)", self.name, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _sse_stream_loop(self) -> None:
        """2024-11-05 transport: one GET stream carries every answer; losing it loses the session."""
        delay = RECONNECT_FIRST
        while self._client is not None:
            reason = "SSE stream closed"
            try:
                headers = {**self._headers, "accept": "text/event-stream"}
                async with self._client.stream("GET", self.url, headers=headers, timeout=None) as response:
                    if (refusal := _auth_refusal(response)) is not None:
                        reason = self._refusal = refusal.reason  # the stream's loss below takes it down
                        self._refused_now.set()
                    elif response.status_code != 200:
                        reason = f"SSE stream refused: HTTP {response.status_code}"
                    else:
                        async for event, data in _sse_events(response):
                            if event == "endpoint":
                                if self._endpoint is None or self._endpoint.done():
                                    self._endpoint = asyncio.get_running_loop().create_future()
                                self._endpoint.set_result(urljoin(self.url, data.decode()))
                                if self.identity is not None:  # a reconnect: introduce ourselves again
                                    self._spawn(self._introduce())
                                delay = RECONNECT_FIRST
                            else:
                                await self._receive_data(data, None)
            except httpx.HTTPError as exc:
                reason = f"SSE stream failed: {exc or type(exc).__name__}"
            if self.identity is None:  # never connected: let start() report it instead of retrying forever
                announced = self._endpoint_future()
                if not announced.done():
                    announced.set_exception(ConnectionError(reason))
                return
            self._connection_lost(reason)
            self._endpoint = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, bytes]]:
    """``(event, data)`` pairs of an SSE stream (comments, ids and empty priming events skipped)."""
    event = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data).encode()
            event, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()


async def _sse_data(response: httpx.Response) -> AsyncIterator[bytes]:
    async for event, data in _sse_events(response):
        if event == "message" and data.strip():
            yield data


class _Refusal:
    """An HTTP 401/403: the status and what its ``WWW-Authenticate`` challenge says (RFC 9110 §11.6.1)."""

    def __init__(self, status: int, challenge: str | None) -> None:
        self.status = status
        self.scheme, self.params = _parse_challenge(challenge) if challenge else (None, {})

    @property
    def reason(self) -> str:
        phrase = HTTPStatus(self.status).phrase
        details = [f'{key} "{self.params[key]}"' for key in ("realm", "error") if key in self.params]
        said = ", ".join(details)
        if description := self.params.get("error_description"):
            said = f"{said}: {description}" if said else description
        return f"rejected our credentials: HTTP {self.status} {phrase}" + (f" ({said})" if said else "")

    def data(self, backend: str) -> Message:
        data: Message = {"backend": backend, "httpStatus": self.status}
        if self.scheme is not None:
            data["wwwAuthenticate"] = {"scheme": self.scheme, **self.params}
        return data


def _auth_refusal(response: httpx.Response) -> _Refusal | None:
    if response.status_code not in (401, 403):
        return None
    return _Refusal(response.status_code, response.headers.get("www-authenticate"))


_AUTH_PARAM = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)')


def _parse_challenge(header: str) -> tuple[str | None, dict[str, str]]:
    """``Bearer realm="x", error="invalid_token"`` → ("Bearer", {"realm": "x", "error": "invalid_token"}).

    Parameters are read until one repeats: with several challenges (``Bearer realm="a", Basic realm="a"``),
    a later one's ``realm`` must not shadow the first's."""
    scheme, _, rest = header.strip().partition(" ")
    if "=" in scheme:  # no scheme at all, just parameters
        scheme, rest = "", header
    params: dict[str, str] = {}
    for key, value in _AUTH_PARAM.findall(rest):
        key = key.lower()
        if key in params:
            break
        params[key] = re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith('"') else value
    return scheme or None, params


TRACE_CONTEXT_KEYS = ("traceparent", "tracestate")


def _trace_headers(message: Message | None) -> dict[str, str]:
    """W3C trace context carried in ``params._meta`` (where MCP puts it) also sent as HTTP headers, so an
    HTTP backend's own instrumentation (and any proxy in between) continues the same trace."""
    params = message.get("params") if message is not None else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return {}
    return {key: value for key in TRACE_CONTEXT_KEYS if isinstance(value := meta.get(key), str)}


__all__ = ["HttpBackend"]
