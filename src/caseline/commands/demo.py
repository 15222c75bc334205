"""`caseline demo`: the whole pipeline on the bundled world (the work is done by `caseline.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Not used: the demo writes its own temporary config.")
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the top incident's export, postmortem and HTML.")
    ] = Path("demo-output"),
    store: Annotated[
        str | None,
        typer.Option("--store", help="Keep the demo data in this database URL (default: a temporary SQLite file)."),
    ] = None,
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="Inject a few 5xx answers and dropped connections.")
    ] = True,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Start the bundled vendor emulator, sync it through the real connectors, correlate, alert to a local
    receiver, and show the incidents and the top timeline."""
    from caseline.cli import console, err_console
    from caseline.demo import run_demo
    from caseline.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"demo: --out {out} exists and is not a directory")
    if store is not None and "://" not in store:
        raise ConfigError(f"demo: --store expects a database URL such as sqlite:///demo.db, got {store!r}")
    result = run_demo(out, console=console, store_url=store, faults=faults)
    if store is not None:
        err_console.print(f"The demo data stays in {store}: try `CASELINE_DB_URL={store} caseline incidents`.")
    if any(r.error for r in result.sync) or any(o.status == "failed" for o in result.alerts) or result.top is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `demo` to the `caseline` app."""
    app.command(name="demo")(demo)
