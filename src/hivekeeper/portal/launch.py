"""From a registry entry and the portal's run form to a workload spec and the equivalent CLI command.

One function builds the spec; the command line is rendered from that same spec, so what the portal
runs and what it tells you to type can never drift apart. The spec names the entry (``NAME@VERSION``),
not its package: the manager resolves it exactly as it resolves ``hivekeeper run NAME@VERSION``, so the
workload records the entry and its pinned artifact is verified at every start, whichever front started it.
The portal's spec also names the registry database it shows, so that the manager resolves the entry there.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.config import validate_document
from hivekeeper.errors import ConfigError
from hivekeeper.registry.curation import CURATION_META
from hivekeeper.registry.resolve import (
    argument_words,
    entry_reference,
    network_access,
    registry_resolver,
    runnable_source,
)
from hivekeeper.workloads.manager import resolve_spec
from hivekeeper.workloads.spec import WorkloadSpec

_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class FormField:
    """One input the run form asks for."""

    key: str  # form field name
    label: str
    description: str
    required: bool
    secret: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunPlan:
    reference: str  # NAME@VERSION: what the workload is started from, and re-verified against
    source: str  # the package, image or URL the manager resolves the reference to
    runtime: str
    fields: list[FormField] = field(default_factory=list)
    default_profile: str = "none"
    default_allow_hosts: tuple[str, ...] = ()  # the entry's outbound allowlist, part of its default profile


def plan(response: Mapping[str, Any]) -> RunPlan:
    """What running this entry needs: its source, runtime, and the form fields to fill in."""
    server = response["server"]
    source, runtime, package = runnable_source(server)
    fields: list[FormField] = []
    for index, argument in enumerate((package or {}).get("packageArguments") or []):
        if argument.get("value") is not None:
            continue  # fixed by the publisher, not the user's to change
        label = str(argument.get("name") or argument.get("valueHint") or f"argument {index + 1}")
        fields.append(
            FormField(
                key=f"arg-{index}",
                label=label,
                description=str(argument.get("description", "")),
                required=bool(argument.get("isRequired", False)),
                default=str(argument.get("default", "")),
                choices=tuple(argument.get("choices") or ()),
            )
        )
    for variable in (package or {}).get("environmentVariables") or []:
        secret = bool(variable.get("isSecret", False))
        fields.append(
            FormField(
                key=f"{'secret' if secret else 'env'}-{variable['name']}",
                label=str(variable["name"]),
                description=str(variable.get("description", "")),
                required=bool(variable.get("isRequired", False)),
                secret=secret,
                default="" if secret else str(variable.get("default", "")),
                choices=tuple(variable.get("choices") or ()),
            )
        )
    access = network_access(response.get("_meta", {}).get(CURATION_META, {}))
    return RunPlan(
        reference=entry_reference(server),
        source=source,
        runtime=runtime,
        fields=fields,
        default_profile=access.profile,
        default_allow_hosts=access.allow_hosts,
    )


def workload_name(server_name: str) -> str:
    base = _NAME_CHARS.sub("-", server_name.rsplit("/", 1)[-1].lower()).strip("-")
    return (base or "server")[:40]


def workload_spec(
    response: Mapping[str, Any], form: Mapping[str, str], *, registry_database: str | None = None
) -> dict[str, Any]:
    """The ``WorkloadSpec`` document for this entry with the user's form values; field-named errors.

    Only the user's choices go in: the entry's fixed arguments, default environment, profile and allowlist
    are the manager's to add when it resolves the reference, as for ``hivekeeper run NAME@VERSION``. So
    the user's arguments follow the fixed ones, exactly where ``hivekeeper run NAME -- ARGS`` puts them.
    ``registry_database`` is the registry the manager resolves the reference in (unset: this machine's).
    """
    run_plan = plan(response)
    package = next(iter(response["server"].get("packages") or []), None)
    values = {field.key: (form.get(field.key) or "").strip() for field in run_plan.fields}
    missing = [field.label for field in run_plan.fields if field.required and not values[field.key]]
    if missing:
        raise ConfigError(f"required: {', '.join(missing)}")
    args = [
        word
        for index, argument in enumerate((package or {}).get("packageArguments") or [])
        if argument.get("value") is None and values.get(f"arg-{index}")
        for word in argument_words(argument, values[f"arg-{index}"])
    ]
    defaults = {field.key: field.default for field in run_plan.fields}
    env = {
        key.removeprefix("env-"): value
        for key, value in values.items()
        if key.startswith("env-") and value and value != defaults[key]  # the entry's default is the manager's
    }
    secrets = [
        f"{value},target={key.removeprefix('secret-')}"
        for key, value in values.items()
        if key.startswith("secret-") and value
    ]
    spec = {**_how_it_runs(response, run_plan, form, registry_database), "args": args}
    if env:
        spec["env"] = env
    if secrets:
        spec["secrets"] = secrets
    return spec


def launch_warnings(response: Mapping[str, Any], form: Mapping[str, str], *, registry_database: str) -> list[str]:
    """What the manager will warn about when it runs this form's workload, known before it starts: the
    manager's own resolution of the entry and its own words (the runtime's caveats come with the run)."""
    how = _how_it_runs(response, plan(response), form, registry_database)
    _, warnings = resolve_spec(validate_document(how, WorkloadSpec, "workload"), registry_resolver)
    return warnings


def _how_it_runs(
    response: Mapping[str, Any], run_plan: RunPlan, form: Mapping[str, str], registry_database: str | None
) -> dict[str, Any]:
    """The spec without arguments, env or secrets (no warning depends on them): name, entry, runtime, and the
    profile when the user chose another; field-named errors."""
    profile = form.get("profile") or run_plan.default_profile
    if profile not in ("none", "network"):
        raise ConfigError(f"profile: unknown permission profile {profile!r} (none or network)")
    runtime = form.get("runtime") or run_plan.runtime
    if runtime not in ("sandbox", "docker", "podman", "process"):
        raise ConfigError(f"runtime: unknown runtime {runtime!r}")
    spec: dict[str, Any] = {
        "name": (form.get("name") or workload_name(response["server"]["name"])).strip(),
        "source": run_plan.reference,
        "runtime": runtime,
    }
    # Left out, the entry's own profile applies, with its allowlist, and a warning about it names the entry;
    # a different choice is the user's, as --profile is, and replaces both.
    if profile != run_plan.default_profile:
        spec["profile"] = profile
    if registry_database:
        spec["registry_database"] = registry_database
    return spec


def run_command(spec: Mapping[str, Any]) -> str:
    """The ``hivekeeper run`` command line that creates the same workload as ``spec``. A registry database on a
    server is named; a SQLite file is the portal machine's own, so the command trusts the typing machine's."""
    words = ["hivekeeper", "run", spec["source"], "--name", spec["name"]]
    database = spec.get("registry_database")
    if database and not database.startswith("sqlite"):
        words += ["--registry-database", database]
    if spec.get("runtime", "sandbox") != "sandbox":
        words += ["--runtime", spec["runtime"]]
    if spec.get("profile"):
        words += ["--profile", spec["profile"]]
    for key, value in (spec.get("env") or {}).items():
        words += ["--env", f"{key}={value}"]
    for secret in spec.get("secrets") or []:
        words += ["--secret", secret]
    if spec.get("args"):
        words += ["--", *spec["args"]]
    return shlex.join(words)


__all__ = ["FormField", "RunPlan", "launch_warnings", "plan", "run_command", "workload_name", "workload_spec"]
