"""HubSpot CRM as documented: v3 object search and lists, v4 association batch reads, ticket pipelines, owners.

World collections: `companies`, `contacts`, `tickets`, `notes` (records `{id, properties, createdAt, updatedAt,
archived}`), `associations` (`{fromObjectType, fromObjectId, toObjectType, toObjectId}`, read both ways),
`pipelines` (ticket pipelines `{id, label, displayOrder, stages: [{id, label, displayOrder, metadata}]}`; when
the world has none, HubSpot's default "Support Pipeline" `0` with stages `1`–`4`, `4` closed, is served) and
`owners` (`{id, email, firstName, lastName, userId, archived}`, what `hubspot_owner_id` names).
Settings: `search_cap` (results one search query may page through; 10,000 in the docs).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from caseline.emulator.vendors._base import (
    HttpError,
    RateState,
    Record,
    Request,
    Response,
    Route,
    Vendor,
    iso_millis,
    new_request_id,
    parse_time,
    url_with,
)
from caseline.timeparse import utc_now

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

SEARCH_DOC = "https://developers.hubspot.com/docs/api/crm/search"
LIMITS_DOC = "https://developers.hubspot.com/docs/api/usage-details"
ASSOCIATIONS_DOC = "https://developers.hubspot.com/docs/api/crm/associations"
PIPELINES_DOC = "https://developers.hubspot.com/docs/api/crm/pipelines"
OWNERS_DOC = "https://developers.hubspot.com/docs/api/crm/owners"

OBJECT_TYPES = ("companies", "contacts", "tickets", "notes")

# ASSOCIATIONS_DOC, "association type id values" (HUBSPOT_DEFINED, unlabeled).
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("tickets", "contacts"): 16,
    ("contacts", "tickets"): 15,
    ("tickets", "companies"): 339,
    ("companies", "tickets"): 340,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("notes", "companies"): 190,
    ("companies", "notes"): 189,
    ("notes", "tickets"): 228,
    ("tickets", "notes"): 227,
}

# What a search returns when it names no `properties` (plus the always-returned ones below).
DEFAULT_PROPERTIES = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "hs_ticket_category"),
    "notes": ("hs_note_body", "hs_timestamp"),
}


# PIPELINES_DOC: every portal starts with this ticket pipeline; stage ids are what `hs_pipeline_stage` holds.
DEFAULT_TICKET_PIPELINES: tuple[Record, ...] = (
    {
        "id": "0",
        "label": "Support Pipeline",
        "displayOrder": 0,
        "stages": [
            {"id": stage_id, "label": label, "displayOrder": order,
             "metadata": {"ticketState": "CLOSED" if closed else "OPEN", "isClosed": "true" if closed else "false"}}
            for order, (stage_id, label, closed) in enumerate(
                [("1", "New", False), ("2", "Waiting on contact", False), ("3", "Waiting on us", False),
                 ("4", "Closed", True)]
            )
        ],
    },
)  # fmt: skip


def modified_property(object_type: str) -> str:
    """Contacts keep their change time in `lastmodifieddate`, everything else in `hs_lastmodifieddate`."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


class HubSpot(Vendor):
    name = "hubspot"
    collections = (*OBJECT_TYPES, "associations", "pipelines", "owners")
    default_settings = {"search_cap": 10_000}

    def encode_time(self, key: str, when: datetime) -> Any:
        return iso_millis(when)

    def record_id(self, collection: str, record: Record) -> str:
        if collection == "associations":
            return "{fromObjectType}:{fromObjectId}->{toObjectType}:{toObjectId}".format(**record)
        return super().record_id(collection, record)

    def normalize(self, world: World, collection: str, record: Record) -> None:
        if collection in ("pipelines", "owners"):
            record["id"] = str(record["id"])
            stamp = record.get("createdAt") or iso_millis(world.now)
            record.setdefault("createdAt", stamp)
            record.setdefault("updatedAt", stamp)
            record.setdefault("archived", False)
            for order, stage in enumerate(record.get("stages") or []):
                stage["id"] = str(stage["id"])
                stage.setdefault("displayOrder", order)
                stage.setdefault("metadata", {"ticketState": "OPEN", "isClosed": "false"})
                stage.setdefault("archived", False)
            return
        if collection == "associations":
            for side in ("from", "to"):
                if record.get(f"{side}ObjectType") not in OBJECT_TYPES:
                    raise ValueError(f"hubspot association {side}ObjectType must be one of {OBJECT_TYPES}")
                record[f"{side}ObjectId"] = str(record[f"{side}ObjectId"])
            return
        record["id"] = str(record["id"])
        if not record["id"].isdigit():
            raise ValueError(f"hubspot {collection} id {record['id']!r} must be numeric, as HubSpot's are")
        properties = record.setdefault("properties", {})
        for name, value in properties.items():  # property values are strings (or null) on the wire
            if value is not None and not isinstance(value, str):
                properties[name] = str(value).lower() if isinstance(value, bool) else str(value)
        modified = modified_property(collection)
        created = record.get("createdAt") or properties.get("createdate") or iso_millis(world.now)
        updated = record.get("updatedAt") or properties.get(modified) or created
        record["createdAt"], record["updatedAt"] = created, updated
        properties.setdefault("createdate", created)
        properties.setdefault(modified, updated)
        properties["hs_object_id"] = record["id"]
        record.setdefault("archived", False)

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        if collection == "associations":
            return
        if collection in ("pipelines", "owners"):
            record["updatedAt"] = iso_millis(when)
            self.normalize(world, collection, record)
            return
        stamp = iso_millis(when)
        record["updatedAt"] = stamp
        record["properties"][modified_property(collection)] = stamp
        self.normalize(world, collection, record)

    def delete(self, world: World, collection: str, key: str, when: datetime) -> None:
        table = world.table(self.name, collection)
        if collection in ("associations", "pipelines"):
            table.pop(key)
            return
        # Deleted records are archived: gone from search, listed by GET …?archived=true (SEARCH_DOC).
        table[key]["archived"] = True
        table[key]["archivedAt"] = iso_millis(when)

    def add_comment(
        self,
        world: World,
        collection: str,
        key: str,
        body: str,
        *,
        public: bool,
        author: Any,
        when: datetime,
    ) -> Record:
        """A note associated with the record; the record's notes_last_updated (so its modified date) moves."""
        if collection not in ("tickets", "companies", "contacts"):
            return super().add_comment(world, collection, key, body, public=public, author=author, when=when)
        notes = world.table(self.name, "notes")
        note_id = str(world.next_id("hubspot.notes", max((int(k) for k in notes if k.isdigit()), default=0)))
        stamp = iso_millis(when)
        properties = {"hs_note_body": body, "hs_timestamp": stamp}
        if author is not None:
            properties["hubspot_owner_id"] = str(author)
        world._put(self.name, "notes", {"id": note_id, "properties": properties, "createdAt": stamp})
        world._put(
            self.name,
            "associations",
            {"fromObjectType": "notes", "fromObjectId": note_id, "toObjectType": collection, "toObjectId": key},
        )
        parent = world.table(self.name, collection)[key]
        parent["properties"]["notes_last_updated"] = stamp
        self.touch(world, collection, parent, when, parent)
        return notes[note_id]

    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        return (headers.get("Authorization") or "") == f"Bearer {credentials.get('token')}"

    def unauthorized(self) -> Response:
        message = (
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
            "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
        )
        return _error(401, "INVALID_AUTHENTICATION", message).response

    # LIMITS_DOC: 429 body names the policy; DAILY means wait for tomorrow. No Retry-After is promised.
    def rate_limited(self, state: RateState) -> Response:
        policy = "DAILY" if state.daily else "TEN_SECONDLY_ROLLING"
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": new_request_id(),
            "policyName": policy,
        }
        return Response(429, body)

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        if route.template.endswith("/search"):
            return {}  # LIMITS_DOC: search responses do not include the X-HubSpot-RateLimit headers
        if state.daily:
            return {
                "X-HubSpot-RateLimit-Daily": str(state.limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(state.remaining),
            }
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(state.window_seconds * 1000)),
            "X-HubSpot-RateLimit-Max": str(state.limit),
            "X-HubSpot-RateLimit-Remaining": str(state.remaining),
        }

    def not_found(self, method: str, path: str) -> Response:
        return _error(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}").response


VENDOR = HubSpot()


def _error(status: int, category: str, message: str) -> HttpError:
    return HttpError(
        status, {"status": "error", "message": message, "correlationId": new_request_id(), "category": category}
    )


def _object_type(req: Request) -> str:
    object_type = req.params["object_type"]
    if object_type not in OBJECT_TYPES:
        raise _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    return object_type


def _render(record: Record, object_type: str, wanted: list[str] | None) -> Record:
    """Only the asked-for properties come back (null when unset), plus the ones HubSpot always sends."""
    names = list(wanted) if wanted else list(DEFAULT_PROPERTIES[object_type])
    names += ["createdate", modified_property(object_type), "hs_object_id"]
    properties = record["properties"]
    result = {
        "id": record["id"],
        "properties": {name: properties.get(name) for name in dict.fromkeys(names)},
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": record["archived"],
    }
    if record.get("archivedAt"):
        result["archivedAt"] = record["archivedAt"]
    return result


# --- search ------------------------------------------------------------------------------------------

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(T|$)")


def _scalar(value: Any) -> float | str | None:
    """Comparable form: datetimes as epoch ms (filters send epoch-ms strings or ISO), numbers, else text."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if _ISO.match(text):
        try:
            return parse_time(text).timestamp() * 1000
        except ValueError:
            return text.lower()
    try:
        return float(text)
    except ValueError:
        return text.lower()


def _compare(actual: Any, expected: Any) -> int | None:
    a, b = _scalar(actual), _scalar(expected)
    if isinstance(a, float) and isinstance(b, float):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def _property(record: Record, name: str) -> Any:
    return record["id"] if name == "id" else record["properties"].get(name)


def _filter(spec: Any) -> Callable[[Record], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise _error(400, "VALIDATION_ERROR", "each filter needs a propertyName")
    name, operator = spec["propertyName"], spec.get("operator", "EQ")
    value, values, high = spec.get("value"), spec.get("values") or [], spec.get("highValue")
    checks: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda a: _compare(a, value) == 0,
        "NEQ": lambda a: _compare(a, value) != 0,
        "LT": lambda a: _compare(a, value) == -1,
        "LTE": lambda a: _compare(a, value) in (-1, 0),
        "GT": lambda a: _compare(a, value) == 1,
        "GTE": lambda a: _compare(a, value) in (0, 1),
        "BETWEEN": lambda a: _compare(a, value) in (0, 1) and _compare(a, high) in (-1, 0),
        "IN": lambda a: any(_compare(a, v) == 0 for v in values),
        "NOT_IN": lambda a: all(_compare(a, v) != 0 for v in values),
        "HAS_PROPERTY": lambda a: a not in (None, ""),
        "NOT_HAS_PROPERTY": lambda a: a in (None, ""),
        "CONTAINS_TOKEN": lambda a: a is not None and str(value).strip("*").lower() in str(a).lower(),
    }
    if operator not in checks:
        raise _error(400, "VALIDATION_ERROR", f"unsupported filter operator {operator!r}")
    check = checks[operator]
    return lambda record: check(_property(record, name))


def _sort_key(record: Record, name: str) -> tuple[int, float | str, int]:
    value = _scalar(_property(record, name))
    rank = 0 if isinstance(value, float) else 1 if isinstance(value, str) else 2
    return rank, value if value is not None else 0.0, int(record["id"]) if record["id"].isdigit() else 0


@VENDOR.route("POST", "/crm/v3/objects/{object_type}/search")
def search(world: World, req: Request) -> Response:
    object_type = _object_type(req)
    try:
        body = req.json() or {}
    except ValueError:
        raise _error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 200:
        raise _error(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise _error(400, "VALIDATION_ERROR", f"after {after!r} is not a valid paging token")
    offset = int(after)
    cap = int(world.settings["hubspot"]["search_cap"])
    if cap > 0 and offset >= cap:
        # SEARCH_DOC: a query can page through at most 10,000 results; beyond that is a 400.
        raise _error(400, "VALIDATION_ERROR", f"Search results are limited to {cap}; narrow the query to page further")
    groups = body.get("filterGroups") or []
    # Limits since 2024-08: 5 filterGroups, 10 filters per group, 25 filters in total.
    if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 25:
        raise _error(400, "VALIDATION_ERROR", "too many filterGroups or filters")
    compiled = []
    for group in groups:
        filters = group.get("filters") or []
        if len(filters) > 10:
            raise _error(400, "VALIDATION_ERROR", "a filterGroup holds at most 10 filters")
        compiled.append([_filter(f) for f in filters])
    text = str(body.get("query") or "").lower()

    def matches(record: Record) -> bool:
        if record["archived"]:
            return False
        if compiled and not any(all(f(record) for f in group) for group in compiled):
            return False
        return not text or any(text in str(v).lower() for v in record["properties"].values() if v)

    found = [r for r in world.table("hubspot", object_type).values() if matches(r)]
    sorts = body.get("sorts") or []
    if sorts:
        first = sorts[0]
        name = first.get("propertyName") if isinstance(first, dict) else str(first).lstrip("-")
        descending = (first.get("direction") == "DESCENDING") if isinstance(first, dict) else str(first).startswith("-")
        found.sort(key=lambda r: _sort_key(r, str(name)), reverse=descending)
    else:
        found.sort(key=lambda r: _sort_key(r, "hs_object_id"))
    window = found[offset : min(offset + limit, cap) if cap > 0 else offset + limit]
    result: Record = {
        "total": len(found),
        "results": [_render(r, object_type, body.get("properties")) for r in window],
    }
    if offset + len(window) < len(found):
        result["paging"] = {"next": {"after": str(offset + len(window))}}
    return Response(200, result)


# --- lists (including archived) ---------------------------------------------------------------------


# https://developers.hubspot.com/docs/api/crm/understanding-the-crm : GET /crm/v3/objects/{type}
@VENDOR.route("GET", "/crm/v3/objects/{object_type}")
def list_objects(world: World, req: Request) -> Response:
    object_type = _object_type(req)
    archived = (req.arg("archived") or "false").lower() == "true"
    try:
        limit = max(1, min(int(req.arg("limit") or 10), 100))
        after = int(req.arg("after") or 0)
    except ValueError:
        raise _error(400, "VALIDATION_ERROR", "limit and after must be integers") from None
    wanted = [p for p in (req.arg("properties") or "").split(",") if p] or None
    records = sorted(
        (
            r
            for r in world.table("hubspot", object_type).values()
            if r["archived"] == archived and int(r["id"]) >= after
        ),
        key=lambda r: int(r["id"]),
    )
    result: Record = {"results": [_render(r, object_type, wanted) for r in records[:limit]]}
    if len(records) > limit:
        next_after = records[limit]["id"]
        params = {
            "limit": limit,
            "after": next_after,
            "archived": req.arg("archived"),
            "properties": req.arg("properties"),
        }
        result["paging"] = {
            "next": {"after": next_after, "link": url_with(req.base_url, f"/crm/v3/objects/{object_type}", params)}
        }
    return Response(200, result)


# --- v4 associations ---------------------------------------------------------------------------------


def _association_index(world: World) -> dict[tuple[str, str, str], list[tuple[str, int]]]:
    """(fromType, fromId, toType) → [(toId, typeId)]; each stored association is readable from both ends."""

    def build() -> dict[tuple[str, str, str], list[tuple[str, int]]]:
        index: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
        for link in world.table("hubspot", "associations").values():
            ends = [(link["fromObjectType"], link["fromObjectId"]), (link["toObjectType"], link["toObjectId"])]
            for (src_type, src_id), (dst_type, dst_id) in (ends, ends[::-1]):
                type_id = ASSOCIATION_TYPE_IDS.get((src_type, dst_type), 0)
                index.setdefault((src_type, src_id, dst_type), []).append((dst_id, type_id))
        return index

    return world.memo(("hubspot", "associations"), build)


def _live(world: World, object_type: str, record_id: str) -> bool:
    record = world.table("hubspot", object_type).get(record_id)
    return record is not None and not record["archived"]


@VENDOR.route("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read")
def read_associations(world: World, req: Request) -> Response:
    from_type, to_type = req.params["from_type"], req.params["to_type"]
    for object_type in (from_type, to_type):
        if object_type not in OBJECT_TYPES:
            raise _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    try:
        body = req.json() or {}
    except ValueError:
        raise _error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) > 1000:
        raise _error(400, "VALIDATION_ERROR", "inputs must be a list of at most 1000 {id} objects")
    started = iso_millis(utc_now())
    index = _association_index(world)
    results, errors = [], []
    for item in inputs:
        from_id = str(item.get("id")) if isinstance(item, dict) else ""
        links = [
            (to_id, type_id)
            for to_id, type_id in index.get((from_type, from_id, to_type), [])
            if _live(world, from_type, from_id) and _live(world, to_type, to_id)
        ]
        if not links:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {to_type} is associated with {from_type} {from_id}.",
                    "context": {"fromObjectId": [from_id]},
                }
            )
            continue
        offset = int(item.get("after") or 0) if str(item.get("after") or "0").isdigit() else 0
        chunk = links[offset : offset + 500]
        entry: Record = {
            "from": {"id": from_id},
            "to": [
                {
                    # The reference documents toObjectId as a string; live portals have been seen sending numbers.
                    "toObjectId": to_id,
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                }
                for to_id, type_id in chunk
            ],
        }
        if offset + 500 < len(links):
            entry["paging"] = {"next": {"after": str(offset + 500)}}
        results.append(entry)
    response: Record = {"status": "COMPLETE", "results": copy.deepcopy(results), "startedAt": started}
    response["completedAt"] = iso_millis(utc_now())
    if errors:
        response["numErrors"] = len(errors)
        response["errors"] = errors
    return Response(207 if errors else 200, response)


# --- pipelines and owners ----------------------------------------------------------------------------


def _bool_arg(req: Request, name: str) -> bool:
    return (req.arg(name) or "false").lower() == "true"


# PIPELINES_DOC: GET /crm/v3/pipelines/{objectType} → {results: [pipeline]}, stages in display order.
@VENDOR.route("GET", "/crm/v3/pipelines/{object_type}")
def list_pipelines(world: World, req: Request) -> Response:
    object_type = req.params["object_type"]
    if object_type not in ("tickets", "0-5", "deals", "0-3"):
        raise _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    if object_type in ("deals", "0-3"):
        return Response(200, {"results": []})
    stored = list(world.table("hubspot", "pipelines").values())
    pipelines = copy.deepcopy(stored) if stored else [_stamped(p, world) for p in DEFAULT_TICKET_PIPELINES]
    archived = _bool_arg(req, "archived")
    results = []
    for pipeline in sorted(pipelines, key=lambda p: (p.get("displayOrder", 0), p.get("label", ""))):
        if bool(pipeline.get("archived")) != archived:
            continue
        stages = [s for s in pipeline.get("stages") or [] if bool(s.get("archived")) == archived]
        pipeline["stages"] = sorted(stages, key=lambda s: (s.get("displayOrder", 0), s.get("label", "")))
        results.append(pipeline)
    return Response(200, {"results": results})


def _stamped(pipeline: Record, world: World) -> Record:
    """A default pipeline with the times and flags every stored one has."""
    record = copy.deepcopy(pipeline)
    VENDOR.normalize(world, "pipelines", record)
    return record


# OWNERS_DOC: GET /crm/v3/owners/{ownerId}?idProperty=id|userId&archived=false; 404 when not found.
@VENDOR.route("GET", "/crm/v3/owners/{owner_id}")
def get_owner(world: World, req: Request) -> Response:
    wanted, by = req.params["owner_id"], req.arg("idProperty") or "id"
    if by not in ("id", "userId"):
        raise _error(400, "VALIDATION_ERROR", f"idProperty must be id or userId, not {by!r}")
    archived = _bool_arg(req, "archived")
    for owner in world.table("hubspot", "owners").values():
        if str(owner.get(by)) == wanted and bool(owner.get("archived")) == archived:
            return Response(200, copy.deepcopy(owner))
    raise _error(404, "OBJECT_NOT_FOUND", f"Owner {wanted} not found")
