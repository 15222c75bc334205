"""Linear issue nodes → Evidence (pure). A raw item is one `issues.nodes[]` entry of the sync query.

The evidence id uses the `identifier` (`ENG-42`); the immutable `id` is kept as `vendor_id`, and
`previousIdentifiers` (the issue moved teams) become aliases. Archived or trashed issues are tombstones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from caseline.connectors.base import first_line, person
from caseline.errors import MalformedItem
from caseline.evidence import Activity, Evidence, EvidenceId, Person
from caseline.text import to_plain
from caseline.text.refs import extract_refs, url_to_evidence_id
from caseline.timeparse import to_utc

__all__ = ["map_linear"]

SAME_MOMENT = timedelta(minutes=1)


def _nodes(connection: Any) -> list[Mapping[str, Any]]:
    nodes = connection.get("nodes") if isinstance(connection, Mapping) else None
    return [n for n in nodes or [] if isinstance(n, Mapping)]


def _person(user: Any) -> Person | None:
    return person(user.get("name"), user.get("email")) if isinstance(user, Mapping) else None


def map_linear(raw: Mapping[str, Any]) -> Evidence:
    ident, vid = raw.get("identifier"), raw.get("id")
    if not isinstance(ident, str) or not ident or not vid or not raw.get("createdAt"):
        raise MalformedItem(f"linear: issue {ident or vid}: missing id, identifier or createdAt")
    try:
        return _issue(raw, ident.upper(), str(vid))
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedItem(f"linear: issue {ident}: {first_line(exc)}") from None


def _issue(raw: Mapping[str, Any], ident: str, vid: str) -> Evidence:
    own, url = str(EvidenceId.of("linear", "issue", ident)), raw.get("url") or None
    state: Mapping[str, Any] = raw["state"] if isinstance(raw.get("state"), Mapping) else {}
    team = str((raw.get("team") or {}).get("key") or ident.split("-")[0])
    comments = _nodes(raw.get("comments"))
    body = to_plain("markdown", raw.get("description") or "")
    activities = [*_comments(comments, url), *_history(_nodes(raw.get("history")), url)]
    activities += _resolution(raw, state.get("name"), activities, url)
    aliases = [str(EvidenceId.of("linear", "issue", p.upper())) for p in raw.get("previousIdentifiers") or [] if p]
    priority = raw.get("priorityLabel") if raw.get("priority") not in (0, None) else None
    return Evidence(
        id=own, source="linear", kind="issue", native_id=ident, vendor_id=vid, url=url,
        aliases=[a for a in dict.fromkeys(aliases) if a != own],
        title=str(raw.get("title") or "").strip(), body=body, author=_person(raw.get("creator")), author_role="agent",
        created_at=raw["createdAt"], updated_at=raw.get("updatedAt") or raw["createdAt"], status=state.get("name"),
        priority=priority, tags=[str(n["name"]) for n in _nodes(raw.get("labels")) if n.get("name")],
        links=_links(raw, body, comments, team, own), deleted=bool(raw.get("archivedAt") or raw.get("trashed")),
        raw=dict(raw), activities=sorted(activities, key=lambda a: a.at),
    )  # fmt: skip


def _comments(comments: list[Mapping[str, Any]], url: str | None) -> list[Activity]:
    return [
        Activity(at=c["createdAt"], type="comment", text=to_plain("markdown", c.get("body") or ""),
                 actor=_person(c.get("user")), actor_role="agent" if c.get("user") else "system", public=True,
                 url=f"{url}#comment-{str(c['id'])[:8]}" if url and c.get("id") else url,
                 native_id=str(c["id"]) if c.get("id") else None)
        for c in comments
    ]  # fmt: skip


def _history(history: list[Mapping[str, Any]], url: str | None) -> list[Activity]:
    """State changes among the history entries (the others change labels, assignees, …)."""
    out = []
    for h in history:
        old, new = ((h.get(k) or {}).get("name") for k in ("fromState", "toState"))
        if new is None or old == new:
            continue
        out.append(Activity(at=h["createdAt"], type="status_change", text=f"status: {old} → {new}", url=url,
                            actor=_person(h.get("actor")), actor_role="agent" if h.get("actor") else "system",
                            from_status=old, to_status=new))  # fmt: skip
    return out


def _resolution(raw: Mapping[str, Any], status: Any, known: list[Activity], url: str | None) -> list[Activity]:
    """Completed/canceled issues whose (first-page) history does not show that transition."""
    stamp = raw.get("completedAt") or raw.get("canceledAt")
    if not stamp:
        return []
    at = to_utc(stamp)
    if any(a.type == "status_change" and a.to_status == status and abs(a.at - at) <= SAME_MOMENT for a in known):
        return []
    what = "completed" if raw.get("completedAt") else "canceled"
    return [Activity(at=at, type="status_change", text=f"{what} ({status})", url=url, actor_role="system",
                     to_status=status)]  # fmt: skip


def _links(raw: Mapping[str, Any], body: str, comments: list[Mapping[str, Any]], team: str, own: str) -> list[str]:
    """Attachments (the integrations' canonical link: their evidence id, else the URL) and refs in text."""
    found: list[str] = []
    for attachment in _nodes(raw.get("attachments")):
        target = attachment.get("url")
        if isinstance(target, str) and target.strip():
            found.append(url_to_evidence_id(target) or target.strip())
    texts = [raw.get("title"), body, *(c.get("body") for c in comments)]
    for text in texts:
        if isinstance(text, str) and text:
            found += extract_refs(text, linear_teams=[team])
    return [ref for ref in dict.fromkeys(found) if ref != own]
