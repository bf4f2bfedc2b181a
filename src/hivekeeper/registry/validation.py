"""``server.json`` validation against the official MCP Registry schema, with one field-named problem each."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from hivekeeper.errors import ConfigError

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

# The official registry refuses version ranges: a published entry must name one installable version.
_VERSION_RANGE = re.compile(r"^[\^~<>=*]|\|\||\s-\s|(^|\.)[xX*](\.|$)|\s")


@dataclass(frozen=True, slots=True)
class Problem:
    location: str  # dotted path with [index] for arrays, e.g. ``packages[0].version``
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ServerJsonError(ConfigError):
    """A ``server.json`` that breaks the schema; ``problems`` names every offending field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid server.json: " + "; ".join(str(problem) for problem in problems))


@cache
def server_schema() -> dict[str, Any]:
    """The official ``server.json`` JSON schema shipped inside the package."""
    text = resources.files("hivekeeper.registry").joinpath("schema/server.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(server_schema(), format_checker=FormatChecker())


def _location(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _discriminator_problem(error: ValidationError) -> Problem | None:
    """When every alternative rejects the ``type`` field, say that rather than one branch's other demands."""
    branches: dict[Any, list[Any]] = {}
    for sub in error.context or []:
        if sub.validator == "enum" and list(sub.relative_path) == ["type"]:
            branches.setdefault(sub.relative_schema_path[0], []).extend(list(sub.validator_value))  # type: ignore[arg-type]
    if not branches or len(branches) < len({sub.relative_schema_path[0] for sub in error.context or []}):
        return None
    accepted = ", ".join(str(value) for values in branches.values() for value in values)
    instance_type = error.instance.get("type") if isinstance(error.instance, dict) else None
    return Problem(_location([*error.absolute_path, "type"]), f"{instance_type!r} is not one of {accepted}")


def _describe(error: ValidationError) -> Problem:
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _discriminator_problem(error) or _describe(best_match(error.context))
    if error.validator in ("maxLength", "minLength"):
        bound = "longer than" if error.validator == "maxLength" else "shorter than"
        return Problem(_location(error.absolute_path), f"is {bound} {error.validator_value} characters")
    if error.validator == "required" and isinstance(error.instance, dict):
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        missing = next((key for key in required if key not in error.instance), None)
        if missing is not None:
            return Problem(_location([*error.absolute_path, missing]), "is required")
    if error.validator == "not" and error.validator_value == {"const": "latest"}:
        return Problem(_location(error.absolute_path), "must be a specific version, not 'latest'")
    if error.validator == "pattern":
        return Problem(_location(error.absolute_path), f"{error.instance!r} does not match {error.validator_value}")
    return Problem(_location(error.absolute_path), error.message)


def _version_problems(document: dict[str, Any]) -> list[Problem]:
    problems = []
    version = document.get("version")
    if isinstance(version, str):
        if version == "latest":
            problems.append(Problem("version", "'latest' is reserved; publish a specific version"))
        elif _VERSION_RANGE.search(version):
            problems.append(Problem("version", f"{version!r} is a version range; publish one exact version"))
    for index, package in enumerate(document.get("packages") or []):
        package_version = package.get("version") if isinstance(package, dict) else None
        if isinstance(package_version, str) and package_version != "latest" and _VERSION_RANGE.search(package_version):
            problems.append(
                Problem(f"packages[{index}].version", f"{package_version!r} is a version range; pin one version")
            )
    return problems


def validate_server_json(document: Any) -> dict[str, Any]:
    """Return ``document`` if it is a valid ``server.json``; raise :class:`ServerJsonError` otherwise."""
    if not isinstance(document, dict):
        raise ServerJsonError([Problem("(top level)", "must be a JSON object")])
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    problems = [_describe(error) for error in errors]
    problems.extend(_version_problems(document))
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ServerJsonError(unique)
    return dict(document)


__all__ = ["SCHEMA_URL", "Problem", "ServerJsonError", "server_schema", "validate_server_json"]
