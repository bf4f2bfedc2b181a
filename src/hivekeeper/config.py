"""Loading YAML/JSON configuration into pydantic models with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hivekeeper.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: message``."""
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{source}: {location}: {item['msg']}")
    return "\n".join(lines)


def parse_document(text: str, source: str) -> Any:
    """Parse YAML (a superset of JSON); report the line of a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{source}: not valid YAML/JSON at {where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc


def validate_document(data: Any, model: type[ModelT], source: str) -> ModelT:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from exc


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    """Read a YAML or JSON file and validate it as ``model``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return validate_document(parse_document(text, str(path)), model, str(path))


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)
