"""The only bridge between the evidence model and the table rows (both directions)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from caseline.evidence import Activity, Evidence

__all__ = ["activity_rows", "content_hash", "evidence_row", "to_evidence"]

_DOC_EXCLUDE = {"activities"}


def content_hash(item: Evidence) -> str:
    """A digest of everything stored for `item`: an identical re-delivery changes nothing."""
    payload = item.model_dump(mode="json")
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def evidence_row(item: Evidence, *, seq: int, digest: str | None = None) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source,
        "kind": item.kind,
        "native_id": item.native_id,
        "vendor_id": item.vendor_id,
        "account": item.account,
        "account_ref": item.account_ref,
        "author_email": (item.author.email or "").lower() or None if item.author else None,
        "is_report": item.is_report,
        "deleted": item.deleted,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "title": item.title,
        "search_text": item.text.lower(),
        "match_text": None,
        "content_hash": digest or content_hash(item),
        "doc": item.model_dump(mode="json", exclude=_DOC_EXCLUDE),
        "seq": seq,
    }


def activity_rows(item: Evidence) -> list[dict[str, Any]]:
    return [
        {
            "evidence_id": item.id,
            "idx": idx,
            "at": act.at,
            "type": act.type,
            "actor_name": act.actor.name if act.actor else None,
            "actor_email": act.actor.email if act.actor else None,
            "actor_role": act.actor_role,
            "text": act.text,
            "url": act.url,
            "doc": act.model_dump(mode="json"),
        }
        for idx, act in enumerate(item.activities)
    ]


def to_evidence(doc: dict[str, Any], activity_docs: list[dict[str, Any]] | None = None) -> Evidence:
    data = dict(doc)
    data["activities"] = [Activity.model_validate(a) for a in (activity_docs or [])]
    return Evidence.model_validate(data)
