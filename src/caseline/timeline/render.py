"""Renderings of an `IncidentExport`: a rich terminal timeline, a Markdown postmortem draft, the JSON
export, and one self-contained HTML page (a swimlane per source along a time axis).

Everything renders from the export model, so every format shows the same facts. The Markdown draft
lays out facts and leaves judgement to people: its conclusions and action items are empty headings.
The HTML page has no external assets (inline CSS, SVG and a few lines of JS) and escapes every string.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from caseline.timeline.export import IncidentExport, MilestoneEntry, TimelineEntry
from caseline.timeparse import format_utc

__all__ = [
    "FORMATS",
    "MILESTONE_LABELS",
    "Format",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "text_renderables",
]

Format = Literal["text", "markdown", "json", "html"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json", "html")
MILESTONE_LABELS = {
    "first_report": "First report",
    "detection": "Detection",
    "escalation": "Escalation",
    "customer_update": "Customer update",
    "resolution": "Resolution",
}
_TYPE_STYLE = {
    "report": "bold red",
    "message": "cyan",
    "comment": "white",
    "status_change": "yellow",
    "escalation": "bold magenta",
    "customer_update": "bold green",
    "resolution": "bold blue",
}
_TYPE_COLOR = {
    "report": "#c62828",
    "message": "#00838f",
    "comment": "#78909c",
    "status_change": "#f9a825",
    "escalation": "#8e24aa",
    "customer_update": "#2e7d32",
    "resolution": "#1565c0",
}
_SEVERITY_STYLE = {"sev1": "bold white on red", "sev2": "bold red", "sev3": "yellow", "sev4": "dim"}


def render(export: IncidentExport, fmt: Format) -> str:
    """The export as one string in `fmt` (text without colors)."""
    if fmt == "json":
        return render_json(export)
    if fmt == "markdown":
        return render_markdown(export)
    if fmt == "html":
        return render_html(export)
    return render_text(export)


def render_json(export: IncidentExport) -> str:
    return export.to_json() + "\n"


# ---- shared helpers ------------------------------------------------------------------------------
def _ts(value: datetime | None) -> str:
    return format_utc(value) or "—"


def _short_ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """`1h 05m`, `12m 30s`, `45s`; "unknown" for None; a leading minus when negative."""
    if seconds is None:
        return "unknown"
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s" if secs else f"{sign}{minutes}m"
    return f"{sign}{secs}s"


def _after_first(export: IncidentExport, at: datetime) -> str:
    if export.first_seen is None:
        return ""
    return duration((at - export.first_seen).total_seconds())


def _clock(value: datetime) -> str:
    """Compact time for narrow terminal tables (the header carries the full dates)."""
    return value.strftime("%m-%d %H:%M")


def _actor(entry: TimelineEntry) -> str:
    if entry.actor is None:
        return ""
    return entry.actor.name or entry.actor.email or ""


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.0f}"


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links are followed (no `javascript:`, `data:` …)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _milestone_rows(export: IncidentExport) -> list[MilestoneEntry]:
    return sorted(export.milestones, key=lambda m: m.at)


# ---- text (rich) ---------------------------------------------------------------------------------
def _cells(*values: str) -> list[Text]:
    """Table cells as `Text`: vendor text is never read as rich markup or `:emoji:` codes."""
    return [Text(v) for v in values]


def text_renderables(export: IncidentExport) -> list[RenderableType]:
    """The terminal timeline as rich renderables (printed by the CLI, or captured by `render_text`)."""
    header = Text()
    header.append(export.title or export.id, style="bold")
    header.append("\n")
    header.append(f"{export.id}  ")
    header.append(f" {export.severity} ", style=_SEVERITY_STYLE.get(export.severity, ""))
    header.append(f"  {export.status}")
    header.append(f"\nfirst seen {_ts(export.first_seen)} · last seen {_ts(export.last_seen)}")
    m = export.metrics
    header.append(
        f"\n{m.reports} report(s) · {m.accounts_affected} account(s) · ARR affected {_money(m.arr_affected)}"
        f" · sources: {', '.join(f'{k} {v}' for k, v in export.sources.items()) or '—'}"
    )
    out: list[RenderableType] = [Panel(header, title="incident", title_align="left")]

    impact = Table(title="Impact", title_justify="left", expand=False)
    for column in ("account", "name", "domain", "plan", "ARR", "reports"):
        impact.add_column(column, justify="right" if column in ("ARR", "reports") else "left")
    for a in export.accounts:
        impact.add_row(*_cells(a.key, a.name or "—", a.domain or "—", a.plan or "—", _money(a.arr), str(a.reports)))
    if not export.accounts:
        impact.add_row("(no account resolved)", "", "", "", "", str(m.reports))
    out.append(impact)

    stones = Table(title="Milestones", title_justify="left")
    stones.add_column("milestone", no_wrap=True)
    stones.add_column("at (UTC)", no_wrap=True)
    stones.add_column("after 1st report", no_wrap=True)
    stones.add_column("evidence", overflow="fold")
    for stone in _milestone_rows(export):
        stones.add_row(
            *_cells(MILESTONE_LABELS[stone.kind], _short_ts(stone.at), _after_first(export, stone.at),
                    stone.evidence_id or "")
        )
    out.append(stones)
    out.append(
        Text(
            f"time to detect {duration(m.time_to_detect_s)} · to escalate {duration(m.time_to_escalate_s)}"
            f" · to resolve {duration(m.time_to_resolve_s)}"
        )
    )
    if export.communication_gaps:
        gaps = Table(title="Communication gaps (customers waiting without an update)", title_justify="left")
        for column in ("from", "to", "minutes"):
            gaps.add_column(column)
        for g in export.communication_gaps:
            gaps.add_row(*_cells(_short_ts(g.from_), _short_ts(g.to) + (" (ongoing)" if g.ongoing else ""),
                                 f"{g.minutes:g}"))
        out.append(gaps)

    entries = Table(title=f"Timeline ({len(export.timeline)} entries)", title_justify="left", show_lines=False)
    entries.add_column("at (UTC)", no_wrap=True)
    entries.add_column("source", no_wrap=True)
    entries.add_column("type", no_wrap=True)
    entries.add_column("actor", max_width=18, overflow="fold")
    entries.add_column("text", overflow="fold", ratio=1)
    for e in export.timeline:
        text = Text(e.text)
        if e.also:
            text.append(f"  (also in {', '.join(sorted({a.source for a in e.also}))})", style="dim")
        entries.add_row(
            Text(_clock(e.at)), Text(e.source), Text(e.type, style=_TYPE_STYLE.get(e.type, "")), Text(_actor(e)),
            text,
        )
    out.append(entries)
    return out


def render_text(export: IncidentExport, *, width: int = 120) -> str:
    """The terminal timeline as plain text (no colors), e.g. for `--out FILE`."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(Group(*text_renderables(export)))
    return buffer.getvalue()


# ---- markdown ------------------------------------------------------------------------------------
def _md(text: str | None) -> str:
    """One table cell: no newlines, pipes escaped, Markdown/HTML specials neutralized."""
    value = " ".join((text or "").split())
    for char in ("\\", "|", "*", "_", "`", "[", "]", "<", ">"):
        value = value.replace(char, "\\" + char)
    return value


def _md_link(label: str, url: str | None) -> str:
    safe = _safe_url(url)
    if not safe:
        return _md(label)
    return f"[{_md(label)}]({safe.replace(' ', '%20').replace(')', '%29')})"


def render_markdown(export: IncidentExport) -> str:
    """A postmortem draft: facts in, judgement left to the people who write it."""
    m = export.metrics
    lines: list[str] = [f"# Postmortem draft: {_md(export.title or export.id)}", ""]
    lines += [
        "## Summary",
        "",
        f"- Incident: `{export.id}` · severity **{export.severity}** · status **{export.status}**",
        f"- First report: {_ts(export.first_seen)} · last report: {_ts(export.last_seen)}",
        f"- Reports: {m.reports} from {m.accounts_affected} account(s); ARR affected: {_money(m.arr_affected)}",
        f"- Sources: {', '.join(f'{k} ({v})' for k, v in export.sources.items()) or '—'}",
        "",
        "_What happened, in two or three sentences (to be written)._",
        "",
        "## Impact",
        "",
    ]
    if export.accounts:
        lines += ["| account | name | domain | plan | ARR | reports |", "|---|---|---|---|---:|---:|"]
        lines += [
            f"| {_md(a.key)} | {_md(a.name or '—')} | {_md(a.domain or '—')} | {_md(a.plan or '—')} "
            f"| {_money(a.arr)} | {a.reports} |"
            for a in export.accounts
        ]
    else:
        lines.append("No affected account could be resolved from the reports.")
    lines += ["", "## Timeline", "", "| time (UTC) | source | type | actor | what |", "|---|---|---|---|---|"]
    for e in export.timeline:
        what = _md_link(e.text or "(no text)", e.url)
        if e.also:
            what += " (also: " + ", ".join(_md_link(a.source, a.url) for a in e.also) + ")"
        lines.append(f"| {_short_ts(e.at)} | {_md(e.source)} | {e.type} | {_md(_actor(e))} | {what} |")
    lines += ["", "## Detection and response", ""]
    for kind in ("first_report", "detection", "escalation", "resolution"):
        stone = next((s for s in _milestone_rows(export) if s.kind == kind), None)
        label = MILESTONE_LABELS[kind]
        if stone is None:
            lines.append(f"- {label}: not recorded")
        else:
            where = f" ({_md_link(stone.evidence_id or 'source', stone.url)})" if stone.evidence_id else ""
            lines.append(f"- {label}: {_ts(stone.at)}, {_after_first(export, stone.at)} after the first report{where}")
    lines += [
        f"- Time to detect: {duration(m.time_to_detect_s)}; to escalate: {duration(m.time_to_escalate_s)};"
        f" to resolve: {duration(m.time_to_resolve_s)}",
        "",
        "## Communication",
        "",
    ]
    updates = [s for s in _milestone_rows(export) if s.kind == "customer_update"]
    if updates:
        lines.append(f"Customer updates ({len(updates)}):")
        lines.append("")
        lines += [f"- {_ts(u.at)} {_md_link(u.evidence_id or 'update', u.url)}" for u in updates]
    else:
        lines.append("No public update to customers was recorded.")
    lines.append("")
    if export.communication_gaps:
        lines.append("Gaps (customers waited longer than the update cadence without an update):")
        lines.append("")
        lines += [
            f"- {_ts(g.from_)} → {_ts(g.to)}: {g.minutes:g} minutes{' (still open)' if g.ongoing else ''}"
            for g in export.communication_gaps
        ]
    else:
        lines.append("No gap longer than the update cadence.")
    lines += ["", "## Open questions", ""]
    lines += [f"- {q}" for q in _questions(export)]
    lines += [
        "",
        "## Action items",
        "",
        "### Process",
        "",
        "- [ ] _to be decided_",
        "",
        "### Technical",
        "",
        "- [ ] _to be decided_",
        "",
        "### Documentation",
        "",
        "- [ ] _to be decided_",
        "",
    ]
    return "\n".join(lines)


def _questions(export: IncidentExport) -> list[str]:
    """Questions the facts raise; answers are for people (nothing here is a conclusion)."""
    m = export.metrics
    questions = ["What was the cause, and what changed just before the first report?"]
    if export.detected_at is None:
        questions.append("The alert threshold was never crossed: should it have been, and how was this noticed?")
    else:
        questions.append(f"Detection came {duration(m.time_to_detect_s)} after the first report: could it be sooner?")
    if export.escalated_at is None:
        questions.append("No escalation to engineering was recorded: was one needed, and where did it happen?")
    if export.resolved_at is None:
        questions.append("No resolution was recorded: is the incident over, and what fixed it?")
    for g in export.communication_gaps:
        questions.append(f"Customers waited {g.minutes:g} minutes without an update ({_ts(g.from_)} → {_ts(g.to)}):"
                         " what held the update back?")
    return questions


# ---- html ----------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d232b;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#555}.sev{padding:1px 6px;border-radius:3px;background:#eee;font-weight:600}
.sev-sev1{background:#c62828;color:#fff}.sev-sev2{background:#ef6c00;color:#fff}.sev-sev3{background:#f9a825}
table{border-collapse:collapse;margin:4px 0}td,th{border-bottom:1px solid #e3e6ea;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f5f7f9}td.num{text-align:right}
.swim{overflow-x:auto;border:1px solid #e3e6ea;border-radius:4px}
svg text{font-size:11px;fill:#333}.lane-bg{fill:#fafbfc}.lane:nth-child(even) .lane-bg{fill:#f1f4f7}
.lane-label{font-weight:600;font-size:12px}.axis line{stroke:#c9ced4}.gap{fill:#ffcdd2;opacity:.45}
.milestone line{stroke-width:2;stroke-dasharray:4 3}.ms-first_report line{stroke:#c62828}
.ms-detection line{stroke:#ef6c00}.ms-escalation line{stroke:#8e24aa}.ms-customer_update line{stroke:#2e7d32;
stroke-width:1}.ms-resolution line{stroke:#1565c0}.milestone text{font-weight:600}
.entry{stroke:#fff;stroke-width:1.5;cursor:pointer}.entry.also{fill:#fff;stroke-width:2}
tr.hl td{background:#fff8e1}.type{font-weight:600}.legend span{margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
"""

_CSS += "".join(f".t-{t}{{fill:{c}}}.entry.also.t-{t}{{stroke:{c}}}" for t, c in _TYPE_COLOR.items())

_JS = """
(function(){
  function fail(msg){var d=document.createElement('div');d.id='caseline-error';d.textContent=String(msg);
    document.body.appendChild(d);}
  window.addEventListener('error',function(ev){fail(ev.message||'error');});
  try{
    var rows={};document.querySelectorAll('tr[data-entry]').forEach(function(r){rows[r.dataset.entry]=r;});
    document.querySelectorAll('[data-entry-ref]').forEach(function(el){
      el.addEventListener('mouseenter',function(){var r=rows[el.dataset.entryRef];if(r){r.classList.add('hl');}});
      el.addEventListener('mouseleave',function(){var r=rows[el.dataset.entryRef];if(r){r.classList.remove('hl');}});
    });
    var ok=document.createElement('div');ok.id='caseline-ready';ok.hidden=true;
    ok.dataset.lanes=String(document.querySelectorAll('g.lane').length);
    ok.dataset.entries=String(document.querySelectorAll('tr[data-entry]').length);
    document.body.appendChild(ok);
  }catch(e){fail(e&&e.message?e.message:e);}
})();
"""

_LABEL_W = 120
_PLOT_W = 1100
_LANE_H = 44
_TOP = 34
_BOTTOM = 30


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _a(url: str | None, inner: str) -> str:
    safe = _safe_url(url)
    return f'<a href="{_e(safe)}" target="_blank" rel="noopener noreferrer">{inner}</a>' if safe else inner


def _span(export: IncidentExport) -> tuple[datetime, datetime]:
    times = [e.at for e in export.timeline] + [m.at for m in export.milestones]
    times += [g.to for g in export.communication_gaps] + [g.from_ for g in export.communication_gaps]
    if not times:
        base = export.first_seen or export.generated_at or datetime.fromtimestamp(0, UTC)
        times = [base]
    start, end = min(times), max(times)
    if end - start < timedelta(minutes=1):
        end = start + timedelta(minutes=1)
    pad = (end - start) * 0.02
    return start - pad, end + pad


_TICK_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def _ticks(start: datetime, end: datetime, most: int = 10) -> Iterable[datetime]:
    """Round times (every 5 min, 1 h, 1 d …) across the span, at most `most` of them."""
    span = (end - start).total_seconds()
    step = next((s for s in _TICK_STEPS_S if span / s <= most), _TICK_STEPS_S[-1])
    epoch = int(start.timestamp())
    first = epoch - epoch % step + (step if epoch % step else 0)
    tick = datetime.fromtimestamp(first, UTC)
    while tick <= end:
        yield tick
        tick += timedelta(seconds=step)


def _lanes(export: IncidentExport) -> list[str]:
    seen = dict.fromkeys(export.sources)
    for e in export.timeline:
        seen.setdefault(e.source)
        for a in e.also:
            seen.setdefault(a.source)
    return list(seen)


def _swimlanes(export: IncidentExport) -> str:
    start, end = _span(export)
    span_s = (end - start).total_seconds()
    lanes = _lanes(export)
    height = _TOP + _LANE_H * max(len(lanes), 1) + _BOTTOM
    width = _LABEL_W + _PLOT_W + 20

    def x(at: datetime) -> float:
        return round(_LABEL_W + (at - start).total_seconds() / span_s * _PLOT_W, 1)

    lane_y = {source: _TOP + i * _LANE_H for i, source in enumerate(lanes)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline by source">'
    ]
    out.append('<g class="lanes">')
    for source in lanes:
        y = lane_y[source]
        out.append(
            f'<g class="lane" data-source="{_e(source)}"><rect class="lane-bg" x="0" y="{y}" width="{width}" '
            f'height="{_LANE_H}"/><text class="lane-label" x="8" y="{y + _LANE_H / 2 + 4}">{_e(source)}</text></g>'
        )
    out.append("</g>")
    bottom = _TOP + _LANE_H * max(len(lanes), 1)
    for g in export.communication_gaps:
        out.append(
            f'<rect class="gap" x="{x(g.from_)}" y="{_TOP}" width="{max(x(g.to) - x(g.from_), 1)}" '
            f'height="{bottom - _TOP}"><title>{_e(f"customers waited {g.minutes:g} min without an update")}'
            "</title></rect>"
        )
    out.append('<g class="axis">')
    same_day = start.date() == end.date()
    for tick in _ticks(start, end):
        label = tick.strftime("%H:%M" if same_day else "%m-%d %H:%M")
        out.append(
            f'<line x1="{x(tick)}" y1="{_TOP}" x2="{x(tick)}" y2="{bottom}"/>'
            f'<text x="{x(tick)}" y="{bottom + 16}" text-anchor="middle">{_e(label)}</text>'
        )
    out.append("</g>")
    for stone in _milestone_rows(export):
        label = MILESTONE_LABELS[stone.kind]
        text = "" if stone.kind == "customer_update" else (
            f'<text x="{x(stone.at) + 3}" y="{_TOP - 8}">{_e(label)}</text>'
        )
        out.append(
            f'<g class="milestone ms-{stone.kind}" data-milestone="{stone.kind}">'
            f'<title>{_e(f"{label}: {_ts(stone.at)}")}</title>'
            f'<line x1="{x(stone.at)}" y1="{_TOP - 4}" x2="{x(stone.at)}" y2="{bottom}"/>{text}</g>'
        )
    for index, e in enumerate(export.timeline):
        tip = _e(f"{_ts(e.at)} · {e.source} · {e.type} · {_actor(e)}: {e.text}")
        cy = lane_y[e.source] + _LANE_H / 2
        circle = (
            f'<circle class="entry t-{e.type}" data-entry-ref="{index}" data-source="{_e(e.source)}" '
            f'data-type="{e.type}" cx="{x(e.at)}" cy="{cy}" r="6"><title>{tip}</title></circle>'
        )
        out.append(_a(e.url, circle))
        for other in e.also:
            cy2 = lane_y[other.source] + _LANE_H / 2
            mirror = (
                f'<circle class="entry also t-{e.type}" data-entry-ref="{index}" data-source="{_e(other.source)}" '
                f'cx="{x(e.at)}" cy="{cy2}" r="5"><title>{_e(f"same words in {other.evidence_id}")} · {tip}'
                "</title></circle>"
            )
            out.append(_a(other.url, mirror))
    out.append("</svg>")
    return "".join(out)


def render_html(export: IncidentExport) -> str:
    """One self-contained page: header, impact, swimlanes (one per source), milestones, entries."""
    m = export.metrics
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no external requests at all, even by accident
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(export.title or export.id)} · caseline</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(export.title or export.id)}</h1>",
        f'<div class="meta"><code>{_e(export.id)}</code> · <span class="sev sev-{_e(export.severity)}">'
        f"{_e(export.severity)}</span> · {_e(export.status)} · first seen {_e(_ts(export.first_seen))}"
        f" · last seen {_e(_ts(export.last_seen))}</div>",
        f'<div class="meta">{m.reports} report(s) · {m.accounts_affected} account(s) · ARR affected '
        f"{_e(_money(m.arr_affected))} · time to detect {_e(duration(m.time_to_detect_s))} · to escalate "
        f"{_e(duration(m.time_to_escalate_s))} · to resolve {_e(duration(m.time_to_resolve_s))}</div></header>",
        "<h2>Timeline by source</h2>",
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{_e(t)}</span>' for t, c in _TYPE_COLOR.items())
        + "</div>",
        f'<div class="swim">{_swimlanes(export)}</div>',
        "<h2>Milestones</h2><table><tr><th>milestone</th><th>at (UTC)</th><th>after first report</th>"
        "<th>evidence</th></tr>",
    ]
    for stone in _milestone_rows(export):
        parts.append(
            f'<tr class="milestone-row" data-milestone="{stone.kind}"><td>{_e(MILESTONE_LABELS[stone.kind])}</td>'
            f"<td>{_e(_ts(stone.at))}</td><td>{_e(_after_first(export, stone.at))}</td>"
            f"<td>{_a(stone.url, _e(stone.evidence_id or ''))}</td></tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Impact</h2><table><tr><th>account</th><th>name</th><th>domain</th><th>plan</th>"
                 "<th>ARR</th><th>reports</th></tr>")
    for a in export.accounts:
        parts.append(
            f"<tr><td>{_e(a.key)}</td><td>{_e(a.name or '—')}</td><td>{_e(a.domain or '—')}</td>"
            f'<td>{_e(a.plan or "—")}</td><td class="num">{_e(_money(a.arr))}</td><td class="num">{a.reports}</td></tr>'
        )
    parts.append("</table>")
    if export.communication_gaps:
        parts.append("<h2>Communication gaps</h2><table><tr><th>from</th><th>to</th><th>minutes</th></tr>")
        for g in export.communication_gaps:
            parts.append(
                f"<tr><td>{_e(_ts(g.from_))}</td><td>{_e(_ts(g.to))}{' (ongoing)' if g.ongoing else ''}</td>"
                f'<td class="num">{g.minutes:g}</td></tr>'
            )
        parts.append("</table>")
    parts.append("<h2>Entries</h2><table><tr><th>at (UTC)</th><th>source</th><th>type</th><th>actor</th>"
                 "<th>text</th></tr>")
    for index, e in enumerate(export.timeline):
        also = "".join(f" · {_a(a.url, _e(a.source))}" for a in e.also)
        parts.append(
            f'<tr data-entry="{index}"><td>{_e(_short_ts(e.at))}</td><td>{_e(e.source)}</td>'
            f'<td class="type">{_e(e.type)}</td><td>{_e(_actor(e))}</td>'
            f"<td>{_a(e.url, _e(e.text or '(no text)'))}{also}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"
