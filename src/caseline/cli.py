"""The `caseline` command: thin commands that parse, call into the package, and render.

Errors become one stderr line `caseline: error: ...` and the contract's exit codes (0 ok, 1 the work
failed in part or whole, 2 bad usage or configuration); `--debug` adds the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import TyperException

from caseline.config import Settings, config_path, load_settings, template_text
from caseline.errors import CaselineError, ConfigError
from caseline.store import Store, open_store
from caseline.timeparse import parse_since

__all__ = ["app", "main"]


class _Interrupted(Exception):
    """Ctrl-C during a command, carried past typer (which would turn it into a silent exit 130) to `main`."""


class _Group(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None


app = typer.Typer(
    cls=_Group,
    name="caseline",
    help="Puts an incident back together from Zendesk, Intercom, Slack, Jira, Linear and HubSpot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji off: evidence ids like `zendesk:ticket:1` must not turn into emoji codes
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: $CASELINE_CONFIG, ./caseline.toml).")
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def settings_and_store(config: Path | None) -> tuple[Settings, Store]:
    """Load the configuration, then open the store it names (config errors come first, exit 2)."""
    settings = load_settings(config)
    if logging.getLogger("httpx").isEnabledFor(logging.INFO):
        _mask_http_log(settings)
    return settings, open_store(settings.store.url)


class _HttpLogMask(logging.Filter):
    """On the httpx logger itself, so it holds whatever handlers the operator set up: httpx logs every request
    as `HTTP Request: POST <url> …` at INFO, and a Slack webhook URL is a secret, as is a token in a query
    string (`export --post …?token=`). Found by tests/reliability/test_secrets.py."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__("caseline.mask")
        from caseline.schedule import SecretFilter

        self.secrets = SecretFilter(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 1 and str(record.msg).startswith("HTTP Request"):
            url = str(args[1])
            record.args = (args[0], url.split("?", 1)[0] + ("?…" if "?" in url else ""), *args[2:])
        return self.secrets.filter(record)


def _mask_http_log(settings: Settings) -> None:
    """Install (or replace) the mask for this configuration's secrets; only when httpx's INFO would show."""
    from caseline.schedule import secrets_of

    http_log = logging.getLogger("httpx")
    for old in [f for f in http_log.filters if isinstance(f, _HttpLogMask)]:
        http_log.removeFilter(old)
    http_log.addFilter(_HttpLogMask(secrets_of(settings)))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


@app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    debug: DebugOption = False,
) -> None:
    """Write a commented caseline.toml template (it loads as written)."""
    path, _ = config_path(config)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite)")
    path.write_text(template_text(), encoding="utf-8")
    err_console.print(f"Wrote [bold]{path}[/]. Uncomment a \\[sources.*] table and set its token to start syncing.")


@app.command()
def evidence(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date/time, or a duration back (2d).")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Words that must all appear.")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted items.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many (newest first).")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """List or search stored evidence across all tools."""
    try:
        since_at = parse_since(since) if since else None
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    _, store = settings_and_store(config)
    items = store.query_evidence(sources=source, since=since_at, query=query, include_deleted=deleted, limit=limit)
    links = store.links(i.id for i in items)
    rows = [{**item.summary(), "links": links.get(item.id, [])} for item in items]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} evidence item{'s' if len(rows) != 1 else ''}", show_lines=False)
    table.add_column("created", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("account")
    table.add_column("title", ratio=1)
    table.add_column("links")
    for row in rows:
        title = Text(row["title"][:80])  # vendor text is data, never rich markup
        if row["deleted"]:
            title.append(" (deleted)", style="red")
        table.add_row(
            row["created_at"], row["id"], row["account"] or "—", title, Text("\n".join(row["links"]))
        )
    console.print(table)


@app.command()
def sync(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read from each source's start_date.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Pull new and changed evidence from every configured source (or the ones named)."""
    import asyncio

    from caseline.connectors.sync import SyncProgress, run_sync

    settings, store = settings_and_store(config)
    if not settings.sources:
        raise ConfigError("sync: no sources configured (add a [sources.<name>] table to the config)")
    names = list(dict.fromkeys(source)) if source else list(settings.sources)
    if err_console.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=err_console, transient=True) as bars:
            tasks = {name: bars.add_task(name, total=None, status="starting") for name in names}

            def show(event: SyncProgress) -> None:
                status = f"{event.fetched} fetched, {event.stored} stored, {event.failed} failed"
                bars.update(tasks[event.source], status=status + (" (failed)" if event.error else ""))

            reports = asyncio.run(run_sync(settings, store, sources=source, full=full, progress=show))
    else:
        reports = asyncio.run(run_sync(settings, store, sources=source, full=full))
    if as_json:
        print_json([r.as_json() for r in reports])
    else:
        table = Table(title="sync")
        for column in ("source", "fetched", "stored", "failed", "error"):
            table.add_column(column, overflow="fold", justify="left" if column in {"source", "error"} else "right")
        for r in reports:
            table.add_row(r.source, str(r.fetched), str(r.stored), str(r.failed), r.error or "")
        console.print(table)
    failed = [r for r in reports if r.error]
    for r in failed:
        sys.stderr.write(f"caseline: error: {r.error}\n")
    if failed and all(r.credentials_rejected for r in reports):
        raise typer.Exit(2)  # every source rejected its credentials: a configuration problem
    if failed:
        raise typer.Exit(1)


@app.command(name="import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines file of evidence.", exists=False)],
    as_json: JsonOption = False,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Load evidence from JSON Lines (idempotent by id); bad lines are reported and skipped."""
    from caseline.importer import import_file

    if not file.exists():
        raise ConfigError(f"import: file not found: {file}")
    _, store = settings_and_store(config)
    result = import_file(file, store)
    if as_json:
        print_json({"stored": result.stored, "skipped": result.skipped})
    else:
        console.print(f"Stored [bold]{result.stored}[/] item(s); skipped {len(result.skipped)}.")
        for bad in result.skipped:
            err_console.print(f"  line {bad['line']}: {bad['error']}")
    if result.skipped:
        raise typer.Exit(1)


from caseline.commands import demo, incidents, run, timeline  # noqa: E402 — they use helpers defined above

# alert, run · timeline, export, schema · correlate, incidents, incident · demo (in this order in --help)
for _commands in (run, timeline, incidents, demo):
    _commands.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map errors to one stderr line and the contract's exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="caseline", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("caseline: aborted\n")
        code = 130
    except TyperException as exc:  # usage errors: unknown option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"caseline: error: {exc.format_message()}\n")
        code = 2
    except CaselineError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"caseline: error: {exc}\n")
        code = exc.exit_code
    except (KeyboardInterrupt, _Interrupted):
        sys.stderr.write("caseline: interrupted\n")
        code = 130
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")  # one line, always
        sys.stderr.write(f"caseline: error: unexpected {type(exc).__name__}: {first}\n")
        code = 1
    sys.exit(code)


