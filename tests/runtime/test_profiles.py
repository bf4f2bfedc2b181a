"""Permission profiles: the documented format, built-ins and field-named validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivekeeper.errors import ConfigError
from hivekeeper.policy import DEFAULT_PROFILE, builtin, load_profile, parse_memory
from hivekeeper.runtime.base import OPEN_EGRESS, EgressRule, Limits, Mount

DOCS = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


def write(tmp_path: Path, text: str, name: str = "github.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_full_profile_becomes_launch_parts(tmp_path: Path) -> None:
    profile = load_profile(
        write(
            tmp_path,
            """
description: GitHub server
filesystem:
  read: [/srv/repos:/repos, /etc/gitconfig]
  write: [/var/lib/gh:/state]
network:
  outbound:
    allow: [api.github.com:443, "*.githubusercontent.com"]
resources: {memory: 256m, cpus: 0.5, pids: 64}
""",
        )
    )
    assert profile.name == "github"
    assert profile.mounts() == [
        Mount(Path("/srv/repos"), "/repos"),
        Mount(Path("/etc/gitconfig"), "/etc/gitconfig"),
        Mount(Path("/var/lib/gh"), "/state", read_only=False),
    ]
    assert profile.egress() == (EgressRule("api.github.com", 443), EgressRule("*.githubusercontent.com"))
    assert profile.limits() == Limits(memory_bytes=256 << 20, cpus=0.5, pids=64)
    assert profile.warning is None


def test_json_is_accepted_too(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, '{"network": {"outbound": {"allow": ["10.0.0.5:5432"]}}}', "db.json"))
    assert profile.egress() == (EgressRule("10.0.0.5", 5432),)


def test_builtins() -> None:
    none = load_profile(DEFAULT_PROFILE)
    assert none.name == "none" and none.egress() is None and none.mounts() == [] and none.warning is None
    assert none.limits().memory_bytes is not None, "even the default profile is limited"
    network = builtin("network")
    assert network.egress() == OPEN_EGRESS
    assert network.warning is not None and "UNRESTRICTED" in network.warning
    with pytest.raises(ConfigError, match="no built-in profile 'everything'"):
        builtin("everything")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("filesystem: {read: [relative/path]}", r"filesystem\.read: Value error, 'relative/path': use absolute"),
        ("filesystem: {write: ['/a/../etc:/x']}", r"filesystem\.write: .*'\.\.' is not allowed"),
        ("network: {outbound: {allow: ['bad host']}}", r"network\.outbound\.allow: .*expected a host name"),
        ("network: {outbound: {allow: ['*']}}", r"network\.outbound\.allow: .*write 'open: true'"),
        ("network: {outbound: {allow: [a.com], open: true}}", r"network\.outbound: .*drop 'allow'"),
        ("resources: {memory: lots}", r"resources\.memory: .*'lots' is not a size"),
        ("resources: {cpus: 0}", r"resources\.cpus: Input should be greater than 0"),
        ("resources: {pids: 2}", r"resources\.pids: Input should be greater than or equal to 8"),
        ("netwrok: {}", r"netwrok: Extra inputs are not permitted"),
        ("filesystem: [", r"not valid YAML/JSON at line 1"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, document: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_profile(write(tmp_path, document))
    assert str(caught.value).startswith(str(tmp_path / "github.yaml"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_profile(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "size"), [("256m", 256 << 20), ("1.5g", 3 << 29), ("512MiB", 512 << 20), (8 << 20, 8 << 20)]
)
def test_parse_memory(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


def test_every_example_in_the_format_doc_validates(tmp_path: Path) -> None:
    text = DOCS.read_text()
    blocks = [block.split("```")[0] for fence in ("```yaml\n", "```json\n") for block in text.split(fence)[1:]]
    assert len(blocks) >= 3, "docs/profiles.md has YAML and JSON examples"
    for index, block in enumerate(blocks):
        profile = load_profile(write(tmp_path, block, f"example{index}.yaml"))
        assert profile.egress(), "every example shows network rules"
