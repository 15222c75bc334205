"""`caseline alert [--dry-run] [--json]` and `caseline run [--once]`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

__all__ = ["register"]

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: $CASELINE_CONFIG, ./caseline.toml).")
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_STYLE = {"sent": "green", "failed": "red", "suppressed": "yellow", "cancelled": "dim",
          "would_send": "cyan", "would_suppress": "yellow", "pending": "magenta"}


def alert(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; record and send nothing.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Evaluate alert thresholds now and notify the configured sinks (each alert once)."""
    from caseline.alerts import evaluate
    from caseline.cli import console, err_console, print_json, settings_and_store

    settings, store = settings_and_store(config)
    if not settings.alerts.sinks:
        err_console.print("No alert sinks configured: add an \\[\\[alerts.sinks]] table to the config.")
    outcomes = evaluate(settings.alerts, store, dry_run=dry_run)
    if as_json:
        print_json([o.as_json(with_body=dry_run) for o in outcomes])
    else:
        title = f"{len(outcomes)} alert{'' if len(outcomes) == 1 else 's'}"
        table = Table(title=title + (" (dry run: nothing sent or recorded)" if dry_run else ""))
        for column in ("incident", "sink", "kind", "status"):
            table.add_column(column, no_wrap=True)
        table.add_column("incident title", overflow="fold")
        table.add_column("note", overflow="fold")
        for o in outcomes:
            inc = (o.body or {}).get("incident") or {}
            style = _STYLE.get(o.status, "")
            about = f"[{inc['severity']}] {inc.get('title') or ''} ({inc['report_count']} reports)" if inc else ""
            about = escape(about)
            table.add_row(
                o.incident,
                o.sink,
                o.kind if not o.generation else f"{o.kind} #{o.generation}",
                f"[{style}]{o.status}[/]" if style else o.status,
                about,
                escape(o.error or o.note or ""),
            )
        console.print(table)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def run(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle (sync, correlate, alert) and exit.")] = False,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """The scheduled job: sync, correlate and alert every schedule.sync_every (one run per store)."""
    from caseline.cli import settings_and_store
    from caseline.errors import ConfigError
    from caseline.schedule import Runner, configure_logging

    settings, store = settings_and_store(config)
    configure_logging(settings, level=logging.DEBUG if debug else logging.INFO)
    runner = Runner(settings, store)
    if not once:
        runner.run_forever()
        return
    report = runner.run_once()
    if report.credentials_rejected_everywhere:
        names = ", ".join(s["source"] for s in report.sources)
        raise ConfigError(f"run: every configured source rejected its credentials ({names})")
    if report.stopped:
        raise typer.Exit(130)
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `alert` and `run` to the `caseline` app."""
    app.command(name="alert")(alert)
    app.command(name="run")(run)
