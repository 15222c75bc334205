"""`caseline import`: evidence from JSON Lines, for backfills and tools without a connector.

Each good line is validated through the evidence model and stored; each bad line is reported with its
number and skipped. Nothing is half-stored: lines are stored in batches, idempotently by id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from caseline.errors import ImportLineError
from caseline.evidence import Activity, Evidence, EvidenceId, Person
from caseline.store import Store
from caseline.text.refs import extract_refs
from caseline.timeparse import to_utc

__all__ = ["ImportResult", "import_file", "parse_line"]

_BATCH = 500


@dataclass
class ImportResult:
    stored: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _person(value: Any, where: str) -> Person | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Person(email=value) if "@" in value else Person(name=value)
    if isinstance(value, dict):
        try:
            return Person(name=value.get("name"), email=value.get("email"))
        except ValidationError as exc:
            raise ImportLineError(f"{where}: {exc.errors()[0]['msg']}") from None
    raise ImportLineError(f"{where}: expected an object with name/email")


def _time(value: Any, key: str) -> Any:
    try:
        return to_utc(value, require_offset=True)
    except ValueError as exc:
        raise ImportLineError(f"{key}: {exc}") from None


def parse_line(text: str) -> Evidence:
    """One JSON Lines record → Evidence; raises ImportLineError naming the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportLineError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ImportLineError("expected a JSON object")
    for key in ("id", "created_at"):
        if not data.get(key):
            raise ImportLineError(f"missing required field {key!r}")
    if not (data.get("title") or data.get("body")):
        raise ImportLineError("needs 'title' or 'body'")
    try:
        evidence_id = EvidenceId.parse(str(data["id"]))
    except ValueError as exc:
        raise ImportLineError(str(exc)) from None
    created = _time(data["created_at"], "created_at")
    updated = _time(data["updated_at"], "updated_at") if data.get("updated_at") else created
    activities = []
    for index, act in enumerate(data.get("activities") or []):
        where = f"activities[{index}]"
        if not isinstance(act, dict) or "at" not in act:
            raise ImportLineError(f"{where}: needs 'at'")
        try:
            activities.append(
                Activity(
                    at=_time(act["at"], f"{where}.at"),
                    type=act.get("type") or "comment",
                    actor=_person(act.get("actor"), f"{where}.actor"),
                    text=str(act.get("text") or ""),
                    url=act.get("url"),
                )
            )
        except ValidationError as exc:
            raise ImportLineError(f"{where}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    links = data.get("links") or []
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise ImportLineError("links: expected a list of ids or URLs")
    title = str(data.get("title") or "")
    body = str(data.get("body") or "")
    found = extract_refs(f"{title}\n{body}")
    try:
        return Evidence(
            id=str(evidence_id),
            source=evidence_id.source,
            kind=evidence_id.kind,
            native_id=evidence_id.native_id,
            url=data.get("url"),
            title=title,
            body=body,
            author=_person(data.get("author"), "author"),
            account=(str(data["account"]).lower() if data.get("account") else None),
            created_at=created,
            updated_at=updated,
            links=list(dict.fromkeys([*links, *found])),
            raw=data,
            activities=activities,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ImportLineError(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None


def import_file(path: Path, store: Store) -> ImportResult:
    """Store every good line of `path`; report the bad ones by line number."""
    result = ImportResult()
    batch: list[Evidence] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                batch.append(parse_line(line))
            except ImportLineError as exc:
                result.skipped.append({"line": number, "error": str(exc)})
                continue
            if len(batch) >= _BATCH:
                result.stored += len(batch)
                store.upsert_evidence(batch)
                batch = []
    if batch:
        result.stored += len(batch)
        store.upsert_evidence(batch)
    return result
