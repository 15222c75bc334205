"""Jira raw items → Evidence (pure). Raw items are `{"issue", "comments", "changelog", "remotelinks"}`.

People are keyed by `accountId` at Jira, and `emailAddress` is often hidden by privacy settings, so a
Person may carry only a display name. Bodies are Atlassian Document Format (ADF) in v3.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from caseline.connectors.base import first_line, person
from caseline.errors import MalformedItem
from caseline.evidence import Activity, ActorRole, Evidence, EvidenceId, Person
from caseline.text import to_plain
from caseline.text.refs import extract_refs, url_to_evidence_id
from caseline.timeparse import to_utc

__all__ = ["map_jira"]

SAME_MOMENT = timedelta(minutes=1)


def map_jira(raw: Mapping[str, Any], base: str) -> Evidence:
    issue = raw.get("issue", raw) if isinstance(raw, Mapping) else None
    if not isinstance(issue, Mapping) or not isinstance(issue.get("fields"), Mapping):
        raise MalformedItem("jira: item without issue fields")
    try:
        return _issue(issue, raw, base)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedItem(f"jira: issue {issue.get('key') or issue.get('id')}: {first_line(exc)}") from None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _adf_urls(node: Any, depth: int = 0) -> list[str]:
    """Link targets inside ADF (`link` marks, inline/block cards): their text may run into the next node's."""
    if depth > 50:
        return []
    if isinstance(node, list):
        return [u for child in node for u in _adf_urls(child, depth + 1)]
    if not isinstance(node, Mapping):
        return []
    attrs = _dict(node.get("attrs"))
    found = [str(attrs[k]) for k in ("href", "url") if isinstance(attrs.get(k), str)]
    return found + _adf_urls(node.get("marks"), depth + 1) + _adf_urls(node.get("content"), depth + 1)


def _person(user: Any) -> Person | None:
    return person(user.get("displayName"), user.get("emailAddress")) if isinstance(user, Mapping) else None


def _role(user: Any) -> ActorRole:
    return "customer" if isinstance(user, Mapping) and user.get("accountType") == "customer" else "agent"


def _text(body: Any) -> str:
    return to_plain("adf", body) if isinstance(body, Mapping) else to_plain("plain", body)


def _issue(issue: Mapping[str, Any], raw: Mapping[str, Any], base: str) -> Evidence:
    key, f = issue.get("key"), issue["fields"]
    if not isinstance(key, str) or not key or not f.get("created"):
        raise MalformedItem(f"jira: issue {key or issue.get('id')}: missing key or fields.created")
    own, url = str(EvidenceId.of("jira", "issue", key)), f"{base}/browse/{key}"
    status = f.get("status") if isinstance(f.get("status"), Mapping) else {}
    if raw is issue:  # a bare issue (as searched): its embedded comments and changelog
        raw = {"comments": _dict(f.get("comment")).get("comments"),
               "changelog": _dict(issue.get("changelog")).get("histories")}  # fmt: skip
    comments = [c for c in raw.get("comments") or [] if isinstance(c, Mapping)]
    activities = [*_comments(comments, url), *_transitions(raw.get("changelog") or [], url)]
    if (status.get("statusCategory") or {}).get("key") == "done" and f.get("resolutiondate"):
        activities += _resolution(f, status.get("name"), activities, url)
    body = _text(f.get("description"))
    return Evidence(
        id=own, source="jira", kind="issue", native_id=key, url=url,
        vendor_id=str(issue["id"]) if issue.get("id") else None, title=str(f.get("summary") or "").strip(), body=body,
        author=_person(f.get("reporter")) or _person(f.get("creator")), author_role=_role(f.get("reporter")),
        created_at=f["created"], updated_at=f.get("updated") or f["created"],
        status=status.get("name"), priority=(f.get("priority") or {}).get("name"),
        tags=[str(x) for x in f.get("labels") or []], links=_links(f, body, comments, raw, own),
        raw=dict(issue), activities=sorted(activities, key=lambda a: a.at),
    )  # fmt: skip


def _comments(comments: list[Mapping[str, Any]], url: str) -> list[Activity]:
    """Comments; JSM internal ones (`jsdPublic: false`) and role/group-restricted ones are notes."""
    out = []
    for c in comments:
        public = c.get("jsdPublic") is not False and not c.get("visibility")
        out.append(Activity(at=c["created"], type="comment" if public else "note", text=_text(c.get("body")),
                            actor=_person(c.get("author")), actor_role=_role(c.get("author")), public=public,
                            url=f"{url}?focusedCommentId={c['id']}" if c.get("id") else url,
                            native_id=str(c["id"]) if c.get("id") else None))  # fmt: skip
    return out


def _transitions(histories: Any, url: str) -> list[Activity]:
    """`status` items of the changelog: from → to, by whom, when."""
    out = []
    for h in histories if isinstance(histories, list) else []:
        for item in (h.get("items") or []) if isinstance(h, Mapping) else []:
            if not isinstance(item, Mapping) or item.get("field") != "status":
                continue
            old, new = item.get("fromString"), item.get("toString")
            out.append(Activity(at=h["created"], type="status_change", text=f"status: {old} → {new}", url=url,
                                actor=_person(h.get("author")), actor_role="agent", from_status=old, to_status=new,
                                native_id=str(h.get("id")) if h.get("id") else None))  # fmt: skip
    return out


def _resolution(f: Mapping[str, Any], status: Any, known: list[Activity], url: str) -> list[Activity]:
    """A resolved issue whose changelog (truncated, or absent) does not show the resolving transition."""
    at = to_utc(f["resolutiondate"])
    if any(a.type == "status_change" and a.to_status == status and abs(a.at - at) <= SAME_MOMENT for a in known):
        return []
    resolution = (f.get("resolution") or {}).get("name") if isinstance(f.get("resolution"), Mapping) else None
    text = f"resolved: {resolution}" if resolution else f"resolved ({status})"
    return [Activity(at=at, type="status_change", text=text, url=url, actor_role="system", to_status=status)]


def _links(
    f: Mapping[str, Any], body: str, comments: list[Mapping[str, Any]], raw: Mapping[str, Any], own: str
) -> list[str]:
    """Issue links (Jira ↔ Jira), remote links (other tools: their evidence id, else the URL) and refs in text."""
    found: list[str] = []
    for link in f.get("issuelinks") or []:
        for side in ("outwardIssue", "inwardIssue"):
            other = link.get(side) if isinstance(link, Mapping) else None
            if isinstance(other, Mapping) and other.get("key"):
                found.append(str(EvidenceId.of("jira", "issue", other["key"])))
    for remote in raw.get("remotelinks") or []:
        target = (remote.get("object") or {}).get("url") if isinstance(remote, Mapping) else None
        if isinstance(target, str) and target.strip():
            found.append(url_to_evidence_id(target) or target.strip())
    texts = [f.get("summary"), body, *_adf_urls(f.get("description"))]
    for c in comments:
        texts += [_text(c.get("body")), *_adf_urls(c.get("body"))]
    found += [ref for text in texts if isinstance(text, str) and text for ref in extract_refs(text)]
    return [ref for ref in dict.fromkeys(found) if ref != own]
