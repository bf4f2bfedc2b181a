"""``hivekeeper tools find``: the JSON-lines protocol of tseval.py and the human mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CATALOG = Path(__file__).resolve().parent / "catalog_fixture.json"

HIVEKEEPER = [sys.executable, "-m", "hivekeeper"]


def run(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HIVEKEEPER, "tools", "find", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HIVEKEEPER_HOME": str(home), "COLUMNS": "200"},
    )


@pytest.fixture
def server(hivekeeper_home: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*HIVEKEEPER, "tools", "find", "--catalog", str(CATALOG)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HIVEKEEPER_HOME": str(hivekeeper_home)},
    )
    yield proc
    proc.kill()
    proc.wait()


def ask(proc: subprocess.Popen[str], line: str) -> dict[str, Any]:
    """Send one line and read one answer line before sending anything else: proves each answer is flushed."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


def test_json_lines_protocol_answers_each_line_and_survives_bad_ones(server: subprocess.Popen[str]) -> None:
    first = ask(server, json.dumps({"query": "list the files in a directory", "k": 3}))
    assert isinstance(first["build_ms"], float)
    results = first["results"]
    assert isinstance(results, list) and len(results) == 3
    assert ["filesystem", "list_directory"] in results

    assert ask(server, "{not json")["error"].startswith("malformed JSON")
    assert ask(server, json.dumps({"query": "x", "k": 0})) == {"error": "k must be a positive integer, got 0"}
    assert ask(server, json.dumps({"query": "x", "k": -2})) == {"error": "k must be a positive integer, got -2"}
    assert ask(server, json.dumps({"query": "x", "k": "5"})) == {"error": "k must be a positive integer, got '5'"}
    assert ask(server, json.dumps({"k": 5})) == {"error": "query must be a string"}
    assert ask(server, json.dumps(["query", 5])) == {"error": 'expected an object {"query": str, "k": int}'}

    later = ask(server, json.dumps({"query": "post a message in slack"}))  # k defaults to --k (5)
    assert "build_ms" not in later
    assert len(later["results"]) == 5
    assert later["results"][0] == ["slack", "slack_post_message"]

    assert server.stdin is not None
    server.stdin.close()
    assert server.wait(timeout=30) == 0


def test_blank_lines_are_skipped(hivekeeper_home: Path) -> None:
    done = run("--catalog", str(CATALOG), home=hivekeeper_home, stdin='\n\n{"query": "what time is it", "k": 1}\n   \n')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["results"] == [["time", "get_current_time"]]


def test_human_mode_prints_a_table_and_token_savings(hivekeeper_home: Path) -> None:
    done = run("commit staged changes", "--catalog", str(CATALOG), "--k", "3", home=hivekeeper_home)
    assert done.returncode == 0, done.stderr
    assert "git_commit" in done.stdout
    assert "fewer than the full list" in done.stdout


def test_human_mode_json(hivekeeper_home: Path) -> None:
    done = run("commit staged changes", "--catalog", str(CATALOG), "--k", "2", "--json", home=hivekeeper_home)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["tools"]) == 2
    assert data["tokens"]["selected"] < data["tokens"]["full"]
    assert ("git", "git_commit") in {(t["server"], t["name"]) for t in data["tools"]}


def test_missing_catalog_exits_not_found(hivekeeper_home: Path, tmp_path: Path) -> None:
    done = run("x", "--catalog", str(tmp_path / "absent.json"), home=hivekeeper_home)
    assert done.returncode == 3
    assert "catalog file not found" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"server": "a", "tools": [', "not valid JSON"),
        ('[{"tools": []}]', "[0].server must be a non-empty string"),
        ('[{"server": "a", "tools": [{"description": "x"}]}]', "tools[0].name must be a non-empty string"),
        ('"just a string"', "expected a list"),
    ],
)
def test_bad_catalog_exits_with_a_precise_error(
    hivekeeper_home: Path, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(content)
    done = run("x", "--catalog", str(path), home=hivekeeper_home)
    assert done.returncode == 2
    assert message in done.stderr


def test_transformer_flag_adds_the_onnx_model(hivekeeper_home: Path) -> None:
    done = run(
        "commit staged changes", "--catalog", str(CATALOG), "--transformer", "--k", "2", "--json", home=hivekeeper_home
    )
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout)["tools"]
    assert len(tools) == 2 and ("git", "git_commit") in {(t["server"], t["name"]) for t in tools}
