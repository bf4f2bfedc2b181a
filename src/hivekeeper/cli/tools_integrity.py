"""``hivekeeper tools pending`` / ``tools approve``: review the tool definitions a gateway observed and pin
the ones you trust. A pinned tool whose definition later changes is withheld until approved again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hivekeeper.cli.output import JsonOption, console, emit, print_table

ConfigOption = typer.Option(None, "--config", "-c", help="The gateway's YAML config (finds its integrity files).")
NameOption = typer.Option("gateway", "--gateway", help="Gateway name, when no --config is given.")


def register(tools_app: typer.Typer) -> None:
    tools_app.command("pending")(pending)
    tools_app.command("approve")(approve)


def _store(config: Path | None, name: str) -> Any:
    from hivekeeper import paths
    from hivekeeper.config import load_model
    from hivekeeper.errors import NotFoundError
    from hivekeeper.gateway.config import GatewayConfig
    from hivekeeper.gateway.integrity import PinStore

    if config is not None:
        directory = load_model(config, GatewayConfig).relative_to(config.resolve().parent).integrity_directory()
    else:
        directory = paths.state_dir() / "gateway" / name
    if not (directory / "observed.json").exists():
        raise NotFoundError(f"no tools observed yet in {directory}: start the gateway first")
    return PinStore(directory)


def _rows(store: Any) -> list[dict[str, Any]]:
    pins = store.pins()
    rows = []
    for key, entry in sorted(store.observed().items()):
        approved = pins.get(key, {}).get("sha256") == entry["sha256"]
        rows.append(
            {
                "tool": key,
                "status": "approved" if approved else entry["status"],
                "sha256": entry["sha256"],
                "findings": [f"{f['rule']}: {f['message']}" for f in entry.get("findings", [])],
            }
        )
    return rows


def pending(config: Path | None = ConfigOption, gateway: str = NameOption, as_json: bool = JsonOption) -> None:
    """Tools a gateway serves that nobody approved, or whose definition changed since approval."""
    rows = [row for row in _rows(_store(config, gateway)) if row["status"] != "approved"]
    emit(rows, as_json, _render)


def approve(
    tools: list[str] = typer.Argument(None, help="backend/tool names to approve (see `tools pending`)."),
    all_pending: bool = typer.Option(False, "--all", help="Approve every pending or changed definition."),
    config: Path | None = ConfigOption,
    gateway: str = NameOption,
    as_json: bool = JsonOption,
) -> None:
    """Pin the current definition of TOOLS (or --all) so the gateway serves them and guards them."""
    from hivekeeper.errors import ConfigError, NotFoundError

    if not tools and not all_pending:
        raise ConfigError("name the tools to approve (backend/tool) or pass --all")
    store = _store(config, gateway)
    observed = store.observed()
    unknown = [name for name in tools or [] if name not in observed]
    if unknown:
        raise NotFoundError(f"not observed by the gateway: {', '.join(unknown)} (see `hivekeeper tools pending`)")
    wanted = set(tools or [])
    approved = store.approve(lambda key, _: all_pending or key in wanted)
    emit(
        {"approved": approved},
        as_json,
        lambda data: console.print(
            f"approved {len(data['approved'])} tool definition(s)" + "".join(f"\n  {k}" for k in data["approved"])
        ),
    )


def _render(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("nothing pending: every observed tool definition is approved")
        return
    print_table(
        "tool definitions awaiting approval",
        ["tool", "status", "sha256", "findings"],
        [(r["tool"], r["status"], r["sha256"][:12], "; ".join(r["findings"])) for r in rows],
    )
