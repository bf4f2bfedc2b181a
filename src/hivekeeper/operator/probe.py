"""What a running MCPServer actually offers: the tool names its Service lists (``status.observedTools``).

The operator asks through the same proxy clients use, so the list is what the policy lets through.
Either protocol era works (hivekeeper's own HTTP backend negotiates it).
"""

from __future__ import annotations

_MAX_PAGES = 20


class ProbeError(Exception):
    """The endpoint did not answer ``tools/list``."""


async def list_tools(url: str, *, timeout: float = 5.0) -> list[str]:
    from hivekeeper.transport import BackendUnavailable, HttpBackend

    backend = HttpBackend(url, name="operator-probe", timeout=timeout)
    try:
        try:
            await backend.start()
        except BackendUnavailable as exc:
            raise ProbeError(str(exc)) from exc
        names: list[str] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            reply = await backend.call("tools/list", {"cursor": cursor} if cursor else None)
            if "error" in reply:
                raise ProbeError(str(reply["error"].get("message", reply["error"])))
            result = reply.get("result") or {}
            names += [str(tool.get("name")) for tool in result.get("tools", []) if isinstance(tool, dict)]
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return names
    finally:
        await backend.aclose()


__all__ = ["ProbeError", "list_tools"]
