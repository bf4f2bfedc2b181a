"""From a registry entry and the portal's run form to a workload spec and the equivalent CLI command.

One function builds the spec; the command line is rendered from that same spec, so what the portal
runs and what it tells you to type can never drift apart.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.errors import ConfigError
from hivekeeper.registry.curation import CURATION_META
from hivekeeper.registry.resolve import network_access, runnable_source

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
    source: str
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
        source=source,
        runtime=runtime,
        fields=fields,
        default_profile=access.profile,
        default_allow_hosts=access.allow_hosts,
    )


def workload_name(server_name: str) -> str:
    base = _NAME_CHARS.sub("-", server_name.rsplit("/", 1)[-1].lower()).strip("-")
    return (base or "server")[:40]


def workload_spec(response: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The ``WorkloadSpec`` document for this entry with the user's form values; field-named errors."""
    run_plan = plan(response)
    server = response["server"]
    package = next(iter(server.get("packages") or []), None)
    values = {field.key: (form.get(field.key) or "").strip() for field in run_plan.fields}
    missing = [field.label for field in run_plan.fields if field.required and not values[field.key]]
    if missing:
        raise ConfigError(f"required: {', '.join(missing)}")
    args: list[str] = []
    for index, argument in enumerate((package or {}).get("packageArguments") or []):
        value = argument.get("value") if argument.get("value") is not None else values.get(f"arg-{index}", "")
        if not value:
            continue
        if argument.get("type") == "named":
            args += [str(argument["name"]), str(value)]
        else:
            args.append(str(value))
    env = {key.removeprefix("env-"): value for key, value in values.items() if key.startswith("env-") and value}
    secrets = [
        f"{value},target={key.removeprefix('secret-')}"
        for key, value in values.items()
        if key.startswith("secret-") and value
    ]
    profile = form.get("profile") or run_plan.default_profile
    if profile not in ("none", "network"):
        raise ConfigError(f"profile: unknown permission profile {profile!r} (none or network)")
    runtime = form.get("runtime") or run_plan.runtime
    if runtime not in ("sandbox", "docker", "podman", "process"):
        raise ConfigError(f"runtime: unknown runtime {runtime!r}")
    spec: dict[str, Any] = {
        "name": (form.get("name") or workload_name(server["name"])).strip(),
        "source": run_plan.source,
        "args": args,
        "runtime": runtime,
        "profile": profile,
    }
    if profile == run_plan.default_profile and run_plan.default_allow_hosts:
        spec["allow_hosts"] = list(run_plan.default_allow_hosts)
    if env:
        spec["env"] = env
    if secrets:
        spec["secrets"] = secrets
    return spec


def run_command(spec: Mapping[str, Any]) -> str:
    """The ``hivekeeper run`` command line that creates the same workload as ``spec``."""
    words = ["hivekeeper", "run", spec["source"], "--name", spec["name"]]
    if spec.get("runtime", "sandbox") != "sandbox":
        words += ["--runtime", spec["runtime"]]
    if spec.get("profile") and spec["profile"] != "none":
        words += ["--profile", spec["profile"]]
    for rule in spec.get("allow_hosts") or []:
        words += ["--allow-host", rule]
    for key, value in (spec.get("env") or {}).items():
        words += ["--env", f"{key}={value}"]
    for secret in spec.get("secrets") or []:
        words += ["--secret", secret]
    if spec.get("args"):
        words += ["--", *spec["args"]]
    return shlex.join(words)


__all__ = ["FormField", "RunPlan", "plan", "run_command", "workload_name", "workload_spec"]
