"""Renderings: terminal text, the Markdown postmortem draft, and the HTML page in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from caseline.evidence import Evidence
from caseline.store import Store
from caseline.timeline.export import IncidentExport, build_export
from caseline.timeline.render import MILESTONE_LABELS, render_html, render_markdown, render_text
from tests.conftest import IN_CI
from tests.timeline import world
from tests.timeline.world import INCIDENT_ID, at

NASTY = '<script>alert("x")</script> [bold]markup[/bold] :ticket: | pipe'


@pytest.fixture
def export(sqlite_store: Store) -> IncidentExport:
    items = world.evidence()
    # a hostile HubSpot note: must be escaped in every format
    items = [e.model_copy(update={"body": NASTY}) if e.source == "hubspot" else e for e in items]
    world.save_world(sqlite_store, items)
    return build_export(sqlite_store, INCIDENT_ID, world.settings(), now=at(300))


def test_text_shows_header_impact_milestones_and_entries(export: IncidentExport) -> None:
    text = render_text(export, width=240)
    for expected in ("Checkout fails with 502", "inc-chk502", "sev2", "confirmed", "Impact", "Acme Corp",
                     "120,000", "Milestones", "Detection", "time to detect 15m", "Communication gaps",
                     "Timeline (24 entries)", "customer_update", "(also in slack)"):
        assert expected in text, expected
    assert "zendesk:ticket:101" in text  # ids are not turned into emoji
    assert "[bold]markup[/bold]" in text and ":ticket:" in text  # vendor text is not markup
    assert "\x1b[" not in text


def test_markdown_is_a_postmortem_draft(export: IncidentExport) -> None:
    md = render_markdown(export)
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == [
        "# Postmortem draft: Checkout fails with 502", "## Summary", "## Impact", "## Timeline",
        "## Detection and response", "## Communication", "## Open questions", "## Action items", "### Process",
        "### Technical", "### Documentation",
    ]
    assert "- 2026-03-02T09:20:00Z → 2026-03-02T10:30:00Z: 70 minutes" in md
    timeline_rows = [line for line in md.splitlines() if line.startswith("| 2026-")]
    assert len(timeline_rows) == len(export.timeline)
    assert all(row.count(" | ") == 4 for row in timeline_rows)  # the nasty pipe is escaped
    assert "<script>" not in md
    assert "(also: [slack](https://acme.slack.com/archives/C024BE91L/" in md
    assert md.count("- [ ] _to be decided_") == 3


def test_html_escapes_and_is_self_contained(export: IncidentExport) -> None:
    page = render_html(export)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r'(?:src|href)="(?!https://)', page)  # only links out to the source items
    assert "<link" not in page and "@import" not in page
    assert page.count("<script>") == 1


def test_html_links_only_to_http_urls(sqlite_store: Store) -> None:
    items = world.evidence()
    items = [e.model_copy(update={"url": "javascript:alert(1)"}) if e.source == "hubspot" else e for e in items]
    world.save_world(sqlite_store, items)
    page = render_html(build_export(sqlite_store, INCIDENT_ID, world.settings(), now=at(300)))
    assert "javascript:" not in page


# ---- headless Chromium ---------------------------------------------------------------------------
def _chromium() -> str:
    binary = os.environ.get("CASELINE_CHROMIUM") or shutil.which("chromium")
    if not binary:
        if IN_CI:
            pytest.fail("chromium not found under CI=true (set CASELINE_CHROMIUM)")
        pytest.skip("chromium not installed")
    return binary


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def test_html_renders_in_headless_chromium(export: IncidentExport, tmp_path: Path) -> None:
    binary = _chromium()
    page = tmp_path / "timeline.html"
    page.write_text(render_html(export), encoding="utf-8")
    result = _run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout

    # the inline script ran to the end, with no error
    assert 'id="caseline-ready"' in dom, dom[-2000:]
    assert 'id="caseline-error"' not in dom
    assert "Uncaught" not in result.stderr
    # one lane per source
    lanes = re.findall(r'<g class="lane" data-source="([^"]+)"', dom)
    assert sorted(lanes) == sorted(export.sources)
    assert re.search(rf'id="caseline-ready"[^>]*data-lanes="{len(export.sources)}"', dom)
    # every milestone is marked on the axis and listed
    for stone in export.milestones:
        assert f'data-milestone="{stone.kind}"' in dom
    axis = re.findall(r'<g class="milestone ms-[a-z_]+" data-milestone="([a-z_]+)"', dom)
    assert sorted(axis) == sorted(m.kind for m in export.milestones)
    for kind in ("first_report", "detection", "escalation", "resolution"):
        assert MILESTONE_LABELS[kind] in dom
    # every entry is a marker linking to its source item
    markers = re.findall(r'<a href="([^"]+)"[^>]*><circle class="entry t-', dom)
    assert markers == [e.url for e in export.timeline]
    assert "&lt;script&gt;" in dom and "<script>alert" not in dom

    shot = tmp_path / "timeline.png"
    result = _run_chromium(binary, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,900",
                           page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_html_page_for_an_incident_with_one_report(sqlite_store: Store, tmp_path: Path) -> None:
    """Degenerate spans (one instant, one lane) still render without script errors."""
    binary = _chromium()
    only = Evidence.model_validate(
        {"id": "zendesk:ticket:9", "url": "https://acme.zendesk.com/agent/tickets/9", "title": "Login broken",
         "created_at": at(0)}
    )
    world.save_world(sqlite_store, [only], status="candidate")
    page = tmp_path / "one.html"
    page.write_text(render_html(build_export(sqlite_store, INCIDENT_ID, world.settings(), now=at(5))),
                    encoding="utf-8")
    dom = _run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert 'id="caseline-ready"' in dom and 'id="caseline-error"' not in dom
    assert re.findall(r'<g class="lane" data-source="([^"]+)"', dom) == ["zendesk"]
