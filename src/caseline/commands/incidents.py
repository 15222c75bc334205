"""`caseline correlate`, `caseline incidents` and the `caseline incident ...` responder decisions.

Thin commands over `caseline.correlate`. `register(app)` is called from cli.py once cli's shared helpers
exist, which is why they are imported inside it (and why this module does not postpone annotations:
typer reads the commands' annotations where they are defined).
"""

from typing import Annotated, Any

import typer

from caseline.incident import Incident

__all__ = ["incident_json", "register", "why_json"]

OPEN_STATUSES = ("candidate", "confirmed")


def incident_json(incident: Incident) -> dict[str, Any]:
    """One entry of `caseline incidents --json` (the contract's shape)."""
    from caseline.timeparse import format_utc

    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "first_seen": format_utc(incident.first_seen),
        "last_seen": format_utc(incident.last_seen),
        "report_count": incident.report_count,
        "accounts": list(incident.accounts),
        "sources": dict(incident.sources),
        "evidence": incident.evidence_ids,
    }


def why_json(incident: Incident) -> list[dict[str, Any]]:
    """`[{evidence_id, reasons: [{kind, with, score, detail}]}]`: why each member belongs."""
    return [
        {
            "evidence_id": m.evidence_id,
            "reasons": [r.model_dump(mode="json", by_alias=True) for r in m.reasons],
        }
        for m in incident.members
    ]


def _reason_text(reason: Any) -> str:
    parts = [reason.kind]
    if reason.score is not None:
        parts.append(f"{reason.score:g}")
    if reason.with_:
        parts.append(f"with {reason.with_}")
    if reason.detail:
        parts.append(f"({reason.detail})")
    return " ".join(parts)


def _short(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else ""


def register(app: typer.Typer) -> None:
    """Add `correlate`, `incidents` and the `incident` sub-app to `app`."""
    from rich.table import Table
    from rich.text import Text

    from caseline.cli import ConfigOption, DebugOption, JsonOption, console, print_json, settings_and_store
    from caseline.timeparse import format_utc

    IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Incident id (a merged id is followed).")]
    EvidenceArgument = Annotated[list[str], typer.Argument(metavar="EVIDENCE...", help="Evidence ids.")]

    def show(incident: Incident, as_json: bool, verb: str) -> None:
        if as_json:
            print_json(incident_json(incident))
        else:
            console.print(Text(f"{verb} {incident.id} ({incident.status}, {incident.severity}): {incident.title}"))

    @app.command()
    def correlate(as_json: JsonOption = False, config: ConfigOption = None, debug: DebugOption = False) -> None:
        """Cluster new and changed evidence into candidate incidents."""
        from caseline.correlate import correlate as run_correlate

        settings, store = settings_and_store(config)
        result = run_correlate(store, settings)
        if as_json:
            print_json(result.as_json())
            return
        console.print(
            f"Scored [bold]{result.scored}[/] item(s): {result.incidents_created} incident(s) created, "
            f"{result.incidents_updated} updated."
        )

    @app.command()
    def incidents(
        show_all: Annotated[bool, typer.Option("--all", help="Every status, not only open incidents.")] = False,
        why: Annotated[
            str | None, typer.Option("--why", metavar="ID", help="Show why each member of incident ID belongs.")
        ] = None,
        as_json: JsonOption = False,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """List open incidents (--all: every status), or explain one with --why ID."""
        from caseline.correlate.decisions import resolve_incident
        from caseline.store.incidents import IncidentStore

        _, store = settings_and_store(config)
        if why is not None:
            incident = resolve_incident(store, why)
            if as_json:
                print_json({**incident_json(incident), "why": why_json(incident)})
                return
            console.print(Text(
                f"{incident.id} {incident.severity} {incident.status}: {incident.title}\n"
                f"{incident.report_count} report(s) from {len(incident.accounts)} account(s), "
                f"{format_utc(incident.first_seen)} → {format_utc(incident.last_seen)}"
            ))
            evidence = {e.id: e for e in store.get_many(incident.evidence_ids, with_activities=False)}
            table = Table(show_lines=False)
            for column in ("evidence", "created", "account", "title", "why"):
                table.add_column(column, overflow="fold")
            for member in incident.members:
                item = evidence.get(member.evidence_id)
                table.add_row(*(Text(cell) for cell in (
                    member.evidence_id,
                    format_utc(item.created_at) or "" if item else "",
                    (item.account or "—") if item else "",
                    ((item.title or item.body)[:60] if item else "(gone)"),
                    "\n".join(_reason_text(r) for r in member.reasons),
                )))
            console.print(table)
            return
        listed = IncidentStore(store).list(statuses=None if show_all else list(OPEN_STATUSES))
        if as_json:
            print_json([incident_json(i) for i in listed])
            return
        title = f"{len(listed)} {'' if show_all else 'open '}incident{'s' if len(listed) != 1 else ''}"
        table = Table(title=title)
        table.add_column("id", no_wrap=True)
        table.add_column("sev", no_wrap=True)
        if show_all:
            table.add_column("status", no_wrap=True)
        table.add_column("title", overflow="fold", ratio=3)
        table.add_column("accounts", overflow="fold", ratio=2)
        table.add_column("sources", overflow="fold", ratio=1)
        table.add_column("first seen", no_wrap=False)
        table.add_column("last seen", no_wrap=False)
        for i in listed:
            accounts = ", ".join(i.accounts[:3]) + (f" +{len(i.accounts) - 3}" if len(i.accounts) > 3 else "")
            row = [i.id, i.severity, *([i.status] if show_all else []), i.title[:90],
                   f"{accounts or '—'} ({i.report_count} reports)",
                   " ".join(f"{k}:{v}" for k, v in i.sources.items()), _short(i.first_seen), _short(i.last_seen)]
            table.add_row(*(Text(cell) for cell in row))  # plain text: ids like ":ticket:" are not emoji codes
        console.print(table)

    incident_app = typer.Typer(
        help="Responder decisions; every later correlation run respects them.", no_args_is_help=True
    )

    @incident_app.command()
    def confirm(incident_id: IdArgument, as_json: JsonOption = False, config: ConfigOption = None,
                debug: DebugOption = False) -> None:
        """Confirm an incident (runs never change a status a person set)."""
        from caseline.correlate.decisions import confirm as do_confirm

        _, store = settings_and_store(config)
        show(do_confirm(store, incident_id), as_json, "Confirmed")

    @incident_app.command()
    def dismiss(incident_id: IdArgument, as_json: JsonOption = False, config: ConfigOption = None,
                debug: DebugOption = False) -> None:
        """Dismiss an incident: it stays dismissed and never alerts again."""
        from caseline.correlate.decisions import dismiss as do_dismiss

        _, store = settings_and_store(config)
        show(do_dismiss(store, incident_id), as_json, "Dismissed")

    @incident_app.command()
    def merge(
        incident_id: IdArgument,
        others: Annotated[list[str], typer.Argument(metavar="OTHER...", help="Incidents to fold into ID.")],
        as_json: JsonOption = False,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """Fold OTHER incidents into ID (their ids point at ID from now on)."""
        from caseline.correlate.decisions import merge as do_merge

        settings, store = settings_and_store(config)
        show(do_merge(store, settings, incident_id, others), as_json, "Merged into")

    @incident_app.command()
    def split(
        incident_id: IdArgument,
        evidence: EvidenceArgument,
        as_json: JsonOption = False,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """Move EVIDENCE out of ID into a new incident; the two never merge again on their own."""
        from caseline.correlate.decisions import split as do_split

        settings, store = settings_and_store(config)
        kept, fresh = do_split(store, settings, incident_id, evidence)
        if as_json:
            print_json([incident_json(kept), incident_json(fresh)])
            return
        show(kept, False, "Kept")
        show(fresh, False, "Split off")

    @incident_app.command()
    def exclude(
        incident_id: IdArgument,
        evidence: EvidenceArgument,
        as_json: JsonOption = False,
        config: ConfigOption = None,
        debug: DebugOption = False,
    ) -> None:
        """Take EVIDENCE out of ID for good (it never rejoins)."""
        from caseline.correlate.decisions import exclude as do_exclude

        settings, store = settings_and_store(config)
        show(do_exclude(store, settings, incident_id, evidence), as_json, "Updated")

    app.add_typer(incident_app, name="incident")
