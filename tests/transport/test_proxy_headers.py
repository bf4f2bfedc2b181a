"""``hivekeeper proxy`` sends credentials to a remote server: ``--header 'Name: value'`` and, kept off the
command line, ``--header-secret 'Name=SECRET[,format=...]'`` from the secret store. The remote is a real SDK
server behind a real bearer check (``tests/fixtures/guarded_server.py``); the proxy runs as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import guarded_http_server
from tests.transport.conftest import start_proxy, stop_proxy

TOKEN = "proxy-header-canary-7f3a"  # distinctive: it must never show up in anything the proxy prints
REFUSAL = 'rejected our credentials: HTTP 401 Unauthorized (realm "team-api"'


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    token_file = tmp_path_factory.mktemp("guarded") / "token"
    token_file.write_text(TOKEN)
    with guarded_http_server(token_file, "--realm", "team-api") as url:
        yield url


@pytest.fixture
def secret_store(hivekeeper_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's encrypted secret store holding ``team-token``, set the way a user sets it."""
    monkeypatch.setenv("HIVEKEEPER_SECRETS_PASSPHRASE", "proxy-header-tests")
    done = hk("secret", "set", "team-token", stdin=TOKEN + "\n")
    assert done.returncode == 0, done.stderr


def hk(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


async def echo_through(url: str) -> str:
    async with Client(url) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]
        return str((await client.call_tool("echo", {"text": "through"})).structured_content)


async def test_target_with_the_right_header_serves_the_remote_tools(guarded: str) -> None:
    proxy = start_proxy(["--target", guarded, "--header", f"Authorization: Bearer {TOKEN}", "--header", "X-Team: a"])
    try:
        assert await echo_through(proxy.url) == "{'result': 'through'}"
    finally:
        stop_proxy(proxy)


async def test_target_with_a_header_from_the_secret_store(guarded: str, secret_store: None) -> None:
    proxy = start_proxy(
        ["--verbose", "--target", guarded, "--header-secret", "Authorization=team-token,format=Bearer {value}"]
    )
    try:
        assert await echo_through(proxy.url) == "{'result': 'through'}"
        logged = proxy.stderr_text()
    finally:
        stop_proxy(proxy)
    assert "HTTP Request: POST" in logged  # --verbose logs every upstream request ...
    assert TOKEN not in logged  # ... and never the credential it carries


async def test_stdio_front_with_a_header_from_the_secret_store(guarded: str, secret_store: None) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "hivekeeper",
            "proxy",
            "stdio",
            guarded,
            "--header-secret",
            "Authorization=team-token,format=Bearer {value}",
        ],
        env=dict(os.environ),
    )
    async with Client(params) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["echo"]


@pytest.mark.parametrize("form", ["target", "stdio"])
@pytest.mark.parametrize("credential", ["header", "header-secret", "none"])
def test_a_wrong_credential_exits_5_with_the_one_line_refusal(
    guarded: str, secret_store: None, form: str, credential: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVEKEEPER_SECRET_STALE_TOKEN", "expired")  # the environment provider of the store
    flags = {
        "header": ["--header", "Authorization: Bearer expired"],
        "header-secret": ["--header-secret", "Authorization=stale-token,format=Bearer {value}"],
        "none": [],
    }[credential]
    where = ["--port", "0", "--target", guarded] if form == "target" else ["stdio", guarded]
    done = hk("proxy", *where, *flags)
    assert done.returncode == 5, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and REFUSAL in lines[0], lines


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--header", "Authorization Bearer x"], "--header 'Authorization Bearer x': expected 'Name: value'"),
        (["--header", "Bad Name: x"], "--header 'Bad Name: x': expected 'Name: value'"),
        (["--header", ": x"], "--header ': x': expected 'Name: value'"),
        (["--header-secret", "Authorization"], "--header-secret 'Authorization': expected 'Name=SECRET"),
        (["--header-secret", "Authorization=team-token,prefix=x"], "--header-secret 'Authorization=team-token,prefix"),
        (["--header-secret", "Authorization=team-token,format=Bearer"], "format must contain {value}"),
    ],
)
def test_bad_header_syntax_exits_2_naming_the_flag(guarded: str, flags: list[str], message: str) -> None:
    done = hk("proxy", "--port", "0", "--target", guarded, *flags)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_headers_without_a_remote_server_exit_2(guarded: str) -> None:
    done = hk("proxy", "--port", "0", "--header", "A: b", "--", sys.executable, "-c", "pass")
    assert done.returncode == 2, done.stderr
    assert "headers go to a remote server" in done.stderr


@pytest.mark.parametrize("form", ["target", "stdio"])
def test_an_unknown_secret_exits_3_naming_it(guarded: str, secret_store: None, form: str) -> None:
    where = ["--port", "0", "--target", guarded] if form == "target" else ["stdio", guarded]
    done = hk("proxy", *where, "--header-secret", "Authorization=no-such-token")
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--header-secret Authorization: secret 'no-such-token' not found" in lines[0], lines
