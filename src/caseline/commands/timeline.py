"""`caseline timeline`, `caseline export` and `caseline schema`: thin commands over `caseline.timeline`.

`register(app)` adds them to the main app; it is called from cli.py once cli's shared helpers exist,
which is why they are imported inside it (and why this module does not postpone annotations: typer
reads the commands' annotations where they are defined).
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import typer

__all__ = ["OutputFormat", "register", "write_output"]


class OutputFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"


def write_output(text: str, out: Path) -> None:
    """Write a rendering to `out` (parent directories must exist: a typo should not create trees)."""
    from caseline.errors import ConfigError

    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    """Add `timeline`, `export` and `schema` to `app`."""
    from caseline.cli import ConfigOption, DebugOption, console, err_console, print_json, settings_and_store

    IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Incident id (a merged id is followed).")]
    OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")]

    @app.command()
    def timeline(
        incident_id: IdArgument,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="text, markdown (postmortem draft), json, html.")
        ] = OutputFormat.text,
        out: OutOption = None,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """The assembled incident record: milestones, impact and every tool's activity in time order."""
        from caseline.timeline.export import build_export
        from caseline.timeline.render import Format, render, text_renderables

        settings, store = settings_and_store(config)
        export = build_export(store, incident_id, settings)
        if out is None and fmt is OutputFormat.text:
            for part in text_renderables(export):
                console.print(part)
            return
        rendered = render(export, cast(Format, fmt.value))
        if out is None:
            sys.stdout.write(rendered)
            return
        write_output(rendered, out)
        err_console.print(f"Wrote {fmt.value} timeline of {export.id} to [bold]{out}[/].")

    @app.command()
    def export(
        incident_id: IdArgument,
        out: OutOption = None,
        post: Annotated[
            str | None, typer.Option("--post", help="POST the export JSON to this URL (with retries).")
        ] = None,
        redact: Annotated[bool, typer.Option("--redact", help="Mask emails and phone numbers.")] = False,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """The postmortem export (caseline.incident.v1 JSON)."""
        from caseline.errors import ConfigError
        from caseline.timeline.export import build_export
        from caseline.timeline.post import post_export, safe_url

        if post is not None and not post.lower().startswith(("http://", "https://")):
            raise ConfigError(f"--post: expected an http(s) URL, got {safe_url(post)!r}")
        settings, store = settings_and_store(config)
        document = build_export(store, incident_id, settings, redact=redact)
        if out is not None:
            write_output(document.to_json() + "\n", out)
            err_console.print(f"Wrote export of {document.id} to [bold]{out}[/].")
        elif post is None:
            sys.stdout.write(document.to_json() + "\n")
        if post is not None:
            result = post_export(post, document)
            console.print(
                f"Posted export of {document.id} to {result.url}: HTTP {result.status}"
                f" ({result.attempts} attempt{'s' if result.attempts != 1 else ''})."
            )

    @app.command()
    def schema(config: ConfigOption = None, debug: DebugOption = False) -> None:
        """Print the JSON Schema of the export (caseline.incident.v1)."""
        from caseline.timeline.export import export_schema

        print_json(export_schema())
