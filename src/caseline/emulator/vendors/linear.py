"""Linear's GraphQL API (a subset of its schema), executed with graphql-core: `POST /graphql`.

World collection: `issues`, Linear issue nodes with their `labels`, `attachments`, `comments` and `history`
as plain lists (served as connections). Settings: `workspace` (issue URLs), `max_complexity` (the per-query
cap; Linear documents 10,000 points), `max_first` (250).

The SDL below is a subset of Linear's published schema (`packages/sdk/src/schema.graphql` in linear/linear,
MIT): the types, fields and arguments a poller selects. Order: `orderBy: updatedAt` gives the most recently
updated first, `createdAt` (the default) the newest first; `after` is a keyset cursor. Errors follow
Linear's shape: `errors[].extensions{code, type, statusCode, userError, userPresentableMessage}`; rate
limits and authentication errors come with HTTP 400.
https://linear.app/developers/graphql · https://linear.app/developers/pagination · https://linear.app/developers/rate-limiting
"""

from __future__ import annotations

import copy
import operator
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    parse,
    validate,
    value_from_ast_untyped,
)

from caseline.emulator.vendors._base import (
    RateState,
    Record,
    Request,
    Response,
    Route,
    Vendor,
    decode_cursor,
    encode_cursor,
    iso_millis,
    parse_time,
)

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

SDL = """
scalar DateTime
scalar DateTimeOrDuration
enum PaginationOrderBy { createdAt updatedAt }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type User { id: ID! name: String! displayName: String! email: String! }
type Team { id: ID! key: String! name: String! }
type WorkflowState { id: ID! name: String! type: String! }
type IssueLabel { id: ID! name: String! }
type IssueLabelConnection { nodes: [IssueLabel!]! pageInfo: PageInfo! }
type Attachment {
  id: ID! url: String! title: String! subtitle: String sourceType: String createdAt: DateTime! updatedAt: DateTime!
}
type AttachmentConnection { nodes: [Attachment!]! pageInfo: PageInfo! }
type Comment {
  id: ID! body: String! createdAt: DateTime! updatedAt: DateTime! editedAt: DateTime user: User url: String!
}
type CommentConnection { nodes: [Comment!]! pageInfo: PageInfo! }
type IssueHistory {
  id: ID! createdAt: DateTime! updatedAt: DateTime! fromState: WorkflowState toState: WorkflowState actor: User
}
type IssueHistoryConnection { nodes: [IssueHistory!]! pageInfo: PageInfo! }
type Issue {
  id: ID! identifier: String! number: Float! title: String! url: String! description: String
  priority: Float! priorityLabel: String! createdAt: DateTime! updatedAt: DateTime! archivedAt: DateTime
  trashed: Boolean completedAt: DateTime canceledAt: DateTime startedAt: DateTime
  previousIdentifiers: [String!]! customerTicketCount: Int!
  state: WorkflowState! team: Team! creator: User assignee: User
  labels(after: String, before: String, first: Int, includeArchived: Boolean, last: Int,
         orderBy: PaginationOrderBy): IssueLabelConnection!
  attachments(after: String, before: String, first: Int, includeArchived: Boolean, last: Int,
              orderBy: PaginationOrderBy): AttachmentConnection!
  comments(after: String, before: String, first: Int, includeArchived: Boolean, last: Int,
           orderBy: PaginationOrderBy): CommentConnection!
  history(after: String, before: String, first: Int, includeArchived: Boolean, last: Int,
          orderBy: PaginationOrderBy): IssueHistoryConnection!
}
type IssueEdge { cursor: String! node: Issue! }
type IssueConnection { edges: [IssueEdge!]! nodes: [Issue!]! pageInfo: PageInfo! }
input DateComparator {
  eq: DateTimeOrDuration gt: DateTimeOrDuration gte: DateTimeOrDuration in: [DateTimeOrDuration!]
  lt: DateTimeOrDuration lte: DateTimeOrDuration neq: DateTimeOrDuration nin: [DateTimeOrDuration!]
}
input StringComparator { eq: String neq: String in: [String!] nin: [String!] }
input TeamFilter { key: StringComparator }
input IssueFilter {
  and: [IssueFilter!] or: [IssueFilter!] createdAt: DateComparator updatedAt: DateComparator team: TeamFilter
}
type Query {
  issues(after: String, before: String, filter: IssueFilter, first: Int, includeArchived: Boolean, last: Int,
         orderBy: PaginationOrderBy): IssueConnection!
  issue(id: String!): Issue!
  viewer: User!
}
"""
_PRIORITY = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
_CONNECTIONS = ("labels", "attachments", "comments", "history")
_DURATION = re.compile(r"^(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_VIEWER = {"id": "5c2a6a1f-0000-4000-8000-000000000001", "name": "Caseline Bot", "displayName": "caseline",
           "email": "caseline@example.com"}  # fmt: skip


def _error(code: str, message: str, status: int, *, kind: str, presentable: str | None = None) -> Record:
    extensions = {"type": kind, "code": code, "statusCode": status, "userError": True,
                  "userPresentableMessage": presentable or message}  # fmt: skip
    return {"message": message, "extensions": extensions}


class _UserError(GraphQLError):
    """A resolver's input error, reported the way Linear reports INVALID_INPUT."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"type": "invalid input", "code": "INVALID_INPUT", "statusCode": 400,
                                              "userError": True, "userPresentableMessage": message})  # fmt: skip


class Linear(Vendor):
    name = "linear"
    collections = ("issues",)
    default_settings = {"workspace": "example", "max_complexity": 10000, "max_first": 250}

    def encode_time(self, key: str, when: datetime) -> Any:
        return iso_millis(when)  # DateTime scalars: ISO 8601 UTC with milliseconds and Z

    def normalize(self, world: World, collection: str, record: Record) -> None:
        ident = str(record["identifier"]).upper()
        record["identifier"] = ident
        record.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"linear:{ident}")))
        record.setdefault("number", float(ident.rsplit("-", 1)[-1]))
        record.setdefault("title", "")
        record.setdefault("description", None)
        record.setdefault("priority", 0)
        record["priorityLabel"] = _PRIORITY.get(int(record["priority"]), "No priority")
        record.setdefault("createdAt", iso_millis(world.now))
        record.setdefault("updatedAt", record["createdAt"])
        for name in ("archivedAt", "trashed", "completedAt", "canceledAt", "startedAt", "creator", "assignee"):
            record.setdefault(name, None)
        record["creator"], record["assignee"] = _user(record["creator"]), _user(record["assignee"])
        record.setdefault("previousIdentifiers", [])
        record.setdefault("customerTicketCount", 0)
        record.setdefault("state", {"name": "Todo", "type": "unstarted"})
        record["state"].setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"state:{record['state']['name']}")))
        record.setdefault("team", {"key": ident.split("-")[0]})
        record["team"].setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"team:{record['team']['key']}")))
        record["team"].setdefault("name", record["team"]["key"])
        record["url"] = _url(world, record)
        for name in _CONNECTIONS:
            items = record.get(name) or []
            record[name] = [({"name": x} if isinstance(x, str) else x) for x in items]
        for index, comment in enumerate(record["comments"]):
            comment.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"comment:{ident}:{index}")))
            comment.setdefault("createdAt", record["createdAt"])
            comment.setdefault("updatedAt", comment["createdAt"])
            comment["user"] = _user(comment.get("user"))
            comment.setdefault("url", f"{record['url']}#comment-{comment['id'][:8]}")
        for index, entry in enumerate(record["history"]):
            entry.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"history:{ident}:{index}")))
            entry.setdefault("createdAt", record["createdAt"])
            entry.setdefault("updatedAt", entry["createdAt"])
            entry["actor"] = _user(entry.get("actor"))
            for side in ("fromState", "toState"):
                if isinstance(entry.get(side), dict):
                    entry[side].setdefault("type", "unstarted")
                    entry[side].setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"state:{entry[side]['name']}")))
        for index, attachment in enumerate(record["attachments"]):
            attachment.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"attachment:{ident}:{index}")))
            attachment.setdefault("title", attachment.get("url", ""))
            attachment.setdefault("createdAt", record["createdAt"])
            attachment.setdefault("updatedAt", attachment["createdAt"])

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        """`updatedAt` moves; a state change is recorded in `history`; a new identifier keeps the old one."""
        stamp = iso_millis(when)
        record["updatedAt"] = stamp
        if record["identifier"] != before["identifier"]:
            record["identifier"] = record["identifier"].upper()
            record["previousIdentifiers"] = [*before.get("previousIdentifiers", []), before["identifier"]]
            record["team"] = {"key": record["identifier"].split("-")[0]}
            record["team"]["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"team:{record['team']['key']}"))
            record["team"]["name"] = record["team"]["key"]
            record["url"] = _url(world, record)
        old, new = before.get("state") or {}, record.get("state") or {}
        if old.get("name") != new.get("name"):
            new.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"state:{new.get('name')}")))
            record["history"].append({"id": str(uuid.uuid4()), "createdAt": stamp, "fromState": copy.deepcopy(old),
                                      "toState": copy.deepcopy(new), "actor": dict(_VIEWER)})  # fmt: skip
            record["completedAt"] = stamp if new.get("type") == "completed" else None
            record["canceledAt"] = stamp if new.get("type") == "canceled" else None
        record["priorityLabel"] = _PRIORITY.get(int(record.get("priority") or 0), "No priority")

    def delete(self, world: World, collection: str, key: str, when: datetime) -> None:
        """Deleting an issue trashes it (archived with `trashed: true`); `includeArchived` still shows it."""
        record = world.table(self.name, collection)[key]
        record.update(trashed=True, archivedAt=iso_millis(when), updatedAt=iso_millis(when))

    def add_comment(
        self, world: World, collection: str, key: str, body: str, *, public: bool, author: Any, when: datetime
    ) -> Record:
        issue = world.table(self.name, collection)[key]
        stamp = iso_millis(when)
        cid = str(uuid.uuid4())
        comment = {"id": cid, "body": body, "createdAt": stamp, "updatedAt": stamp, "user": _user(author or _VIEWER),
                   "url": f"{issue['url']}#comment-{cid[:8]}"}  # fmt: skip
        issue["comments"].append(comment)
        issue["updatedAt"] = stamp
        return comment

    # https://linear.app/developers/graphql#authentication : API keys without "Bearer", OAuth tokens with it.
    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        header, token = headers.get("Authorization") or "", credentials.get("token") or ""
        return header == (token if token.startswith("lin_api_") else f"Bearer {token}")

    def unauthorized(self) -> Response:
        error = _error(
            "AUTHENTICATION_ERROR",
            "Authentication required, not authenticated",
            401,
            kind="authentication error",
            presentable="You need to authenticate to access this operation.",
        )
        return Response(400, {"errors": [error]})  # fmt: skip

    # https://linear.app/developers/rate-limiting : RATELIMITED in errors[], HTTP 400; resets in epoch ms.
    def rate_limited(self, state: RateState) -> Response:
        error = _error("RATELIMITED", "Rate limit exceeded", 429, kind="ratelimited",
                       presentable="Rate limit exceeded. Please try again later.")  # fmt: skip
        return Response(400, {"errors": [error]}, self._limit_headers(state))

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        return self._limit_headers(state)

    def _limit_headers(self, state: RateState) -> dict[str, str]:
        return {"X-RateLimit-Requests-Limit": str(state.limit),
                "X-RateLimit-Requests-Remaining": str(max(0, state.remaining)),
                "X-RateLimit-Requests-Reset": str(state.reset_at * 1000)}  # fmt: skip

    def not_found(self, method: str, path: str) -> Response:
        return Response(404, {"errors": [{"message": f"Cannot {method} {path}"}]})


VENDOR = Linear()


def _user(user: Any) -> Record | None:
    """A User node: Linear's `name` and `email` are non-null, so a world record's missing ones are filled."""
    if not isinstance(user, Mapping):
        return None
    out = dict(user)
    handle = str(out.get("name") or out.get("email") or "someone")
    out.setdefault("name", handle)
    out.setdefault("displayName", handle.split("@")[0].split(" ")[0].lower())
    out.setdefault("email", f"{re.sub(r'[^a-z0-9]+', '.', handle.lower()).strip('.')}@example.com")
    out.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{out['email']}")))
    return out


def _url(world: World, issue: Record) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(issue.get("title") or "").lower()).strip("-")[:60]
    return f"https://linear.app/{world.settings['linear']['workspace']}/issue/{issue['identifier']}" + (
        f"/{slug}" if slug else ""
    )


# --- schema and resolvers --------------------------------------------------------------------------


def _instant(value: Any, now: datetime) -> datetime:
    """A DateTimeOrDuration: an ISO time, or an ISO 8601 duration back from now (`-P1D`)."""
    text = str(value)
    if found := _DURATION.match(text):
        weeks, days, hours, minutes, seconds = (int(x or 0) for x in found.groups()[1:])
        delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        return now - delta if found.group(1) else now + delta
    try:
        return parse_time(text)
    except ValueError:
        raise _UserError(f"Invalid date or duration: {text}") from None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "neq": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
    "in": lambda t, bounds: t in bounds, "nin": lambda t, bounds: t not in bounds,
}  # fmt: skip


def _date_test(comparator: Mapping[str, Any], now: datetime) -> Callable[[datetime], bool]:
    """A DateComparator (`{gte: …, lt: …}`, all of them must hold) as a predicate on a time."""
    checks = [(_COMPARE[op], {_instant(v, now) for v in value or []} if op in ("in", "nin") else _instant(value, now))
              for op, value in comparator.items() if op in _COMPARE]  # fmt: skip
    return lambda t: all(compare(t, bound) for compare, bound in checks)


def _matches(issue: Record, spec: Mapping[str, Any] | None, now: datetime) -> bool:
    if not spec:
        return True
    for key, value in spec.items():
        if key == "and" and not all(_matches(issue, s, now) for s in value or []):
            return False
        if key == "or" and value and not any(_matches(issue, s, now) for s in value):
            return False
        if key in ("createdAt", "updatedAt") and value and not _date_test(value, now)(parse_time(issue[key])):
            return False
        if key == "team" and value and not _string_test((value or {}).get("key") or {}, issue["team"]["key"]):
            return False
    return True


def _string_test(comparator: Mapping[str, Any], actual: str) -> bool:
    checks = {"eq": lambda v: actual == v, "neq": lambda v: actual != v, "in": lambda v: actual in (v or []),
              "nin": lambda v: actual not in (v or [])}  # fmt: skip
    return all(checks[op](value) for op, value in comparator.items() if op in checks)


def _first(first: int | None, max_first: int) -> int:
    size = 50 if first is None else first
    if size < 0 or size > max_first:
        raise _UserError(f"first must be between 0 and {max_first}")
    return size


def _connection(items: list[Record], first: int | None, after: str | None, max_first: int) -> Record:
    """A nested connection (oldest first, as Linear lists an issue's comments and history)."""
    size = _first(first, max_first)
    start = 0
    if after:
        data = decode_cursor(after)
        if not data or "i" not in data:
            raise _UserError("Invalid cursor")
        start = int(data["i"]) + 1
    page = items[start : start + size]
    end = encode_cursor({"i": start + len(page) - 1}) if page else None
    info = {"hasNextPage": start + size < len(items), "hasPreviousPage": start > 0,
            "startCursor": encode_cursor({"i": start}) if page else None, "endCursor": end}  # fmt: skip
    return {"nodes": page, "pageInfo": info}


def _issue_view(issue: Record, max_first: int) -> Record:
    """An issue node for graphql-core: nested connections are callables taking the field's arguments."""
    view = copy.deepcopy(issue)
    for name in _CONNECTIONS:
        items = view[name]
        view[name] = lambda info, _items=items, **args: _connection(
            _items, args.get("first"), args.get("after"), max_first
        )
    return view


def _resolve_issues(world: World) -> Callable[..., Record]:
    def resolve(_root: Any, _info: Any, **args: Any) -> Record:
        settings = world.settings["linear"]
        size = _first(args.get("first"), int(settings["max_first"]))
        order = args.get("orderBy") or "createdAt"
        archived = bool(args.get("includeArchived"))
        chosen = [i for i in world.table("linear", "issues").values()
                  if (archived or not i.get("archivedAt")) and _matches(i, args.get("filter"), world.now)]  # fmt: skip
        chosen.sort(key=lambda i: (parse_time(i[order]), i["id"]), reverse=True)  # most recent first
        keys = [(iso_millis(parse_time(i[order])), i["id"]) for i in chosen]
        start = 0
        if args.get("after"):
            data = decode_cursor(str(args["after"]))
            if not data or "k" not in data:
                raise _UserError("Invalid cursor")
            after = (str(data["k"][0]), str(data["k"][1]))
            start = next((n for n, k in enumerate(keys) if k < after), len(keys))  # keyset: strictly after
        page = chosen[start : start + size]
        cursors = [encode_cursor({"k": list(keys[start + n])}) for n in range(len(page))]
        nodes = [_issue_view(i, int(settings["max_first"])) for i in page]
        info = {"hasNextPage": start + size < len(chosen), "hasPreviousPage": start > 0,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None}  # fmt: skip
        return {"nodes": nodes, "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
                "pageInfo": info}  # fmt: skip

    return resolve


def _resolve_issue(world: World) -> Callable[..., Record]:
    def resolve(_root: Any, _info: Any, id: str) -> Record:
        for issue in world.table("linear", "issues").values():
            if id in (issue["id"], issue["identifier"], *issue.get("previousIdentifiers", [])):
                return _issue_view(issue, int(world.settings["linear"]["max_first"]))
        raise _UserError("Entity not found: Issue")

    return resolve


def _schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    for name in ("DateTime", "DateTimeOrDuration"):
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.serialize = lambda value: value  # type: ignore[method-assign]
        scalar.parse_value = lambda value: value  # type: ignore[method-assign]
        scalar.parse_literal = lambda node, variables=None: value_from_ast_untyped(node, variables)  # type: ignore[method-assign]
    return schema


SCHEMA = _schema()


# --- complexity (Linear: 0.1 per property, 1 per object, connections multiply by `first`) ----------


def _complexity(selection: SelectionSetNode | None, variables: dict[str, Any], depth: int = 0) -> float:
    """An estimate in Linear's terms; `nodes`/`edges` pass through to the connection that multiplies them."""
    total = 0.0
    for node in selection.selections if selection is not None and depth < 20 else ():
        if isinstance(node, InlineFragmentNode):
            total += _complexity(node.selection_set, variables, depth + 1)
            continue
        if not isinstance(node, FieldNode):
            continue
        children = node.selection_set.selections if node.selection_set is not None else ()
        if not children:
            total += 0.1
            continue
        inner = _complexity(node.selection_set, variables, depth + 1)
        if node.name.value in ("nodes", "edges"):
            total += inner
        elif any(isinstance(c, FieldNode) and c.name.value in ("nodes", "edges") for c in children):
            first = next((value_from_ast_untyped(a.value, variables) for a in node.arguments or ()
                          if a.name.value == "first"), None)  # fmt: skip
            total += (float(first) if isinstance(first, int | float) else 50.0) * (1 + inner)
        else:
            total += 1 + inner
    return total


@VENDOR.route("POST", "/graphql")
def graphql(world: World, req: Request) -> Response:
    started = time.monotonic()
    try:
        payload = req.json() or {}
        document = parse(str(payload.get("query") or ""))
    except (ValueError, GraphQLError) as exc:
        return Response(400, {"errors": [_error("GRAPHQL_PARSE_FAILED", str(exc).splitlines()[0], 400,
                                                kind="graphql error")]})  # fmt: skip
    variables = payload.get("variables") or {}
    problems = validate(SCHEMA, document)
    if problems:
        return Response(400, {"errors": [_error("GRAPHQL_VALIDATION_FAILED", p.message, 400, kind="graphql error")
                                         for p in problems]})  # fmt: skip
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    cost = _complexity(operation.selection_set, variables)
    limit = float(world.settings["linear"]["max_complexity"])
    if cost > limit:
        message = f"Query too complex: complexity {cost:.0f} exceeds the maximum of {limit:.0f}"
        return Response(400, {"errors": [_error("QUERY_TOO_COMPLEX", message, 400, kind="invalid input")]})
    issues, issue = _resolve_issues(world), _resolve_issue(world)
    # graphql-core's default resolver calls a callable value with (info, **arguments)
    root = {"issues": lambda info, **a: issues(None, info, **a), "issue": lambda info, **a: issue(None, info, **a),
            "viewer": dict(_VIEWER)}  # fmt: skip
    result = execute_sync(SCHEMA, document, root_value=root, variable_values=variables)
    body: Record = {"data": result.data}
    if result.errors:
        body["errors"] = [{"message": e.message, "path": e.path, "extensions": e.extensions or {}}
                          for e in result.errors]  # fmt: skip
    headers = {"X-Complexity": str(round(cost)), "X-Request-Duration": f"{(time.monotonic() - started) * 1000:.0f}"}
    return Response(400 if result.errors and result.data is None else 200, body, headers)
