"""Jira Cloud REST v3 as documented: enhanced JQL search, myself, issue comments/changelog/remote links.

World collections: `issues` (`{id, key, fields, comments, changelog, remotelinks}`; `comments`, `changelog`
(histories) and `remotelinks` are served by their own endpoints and, truncated, inside search results).
Settings: `site` (for `self` URLs), `timeZone` (the API user's zone: JQL dates are read in it and every
time is written in it, `2022-05-17T04:06:55.076-0700`), `embedded_comments` / `embedded_changelog` (how
many a search result carries), `max_results` (the search's page-size cap).

The old `/rest/api/3/search` answers 410 with the message Atlassian serves since its removal (CHANGE-2046).
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from caseline.emulator.vendors._base import (
    HttpError,
    RateState,
    Record,
    Request,
    Response,
    Route,
    Vendor,
    decode_cursor,
    encode_cursor,
    parse_time,
)

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

GONE = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
        "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")  # fmt: skip
_TIME_FIELDS = ("created", "updated", "resolutiondate")
_CHILDREN = ("comments", "changelog", "remotelinks", "_old_keys")
_DONE = {"done"}


def _zone(world: World) -> tzinfo:
    name = world.settings["jira"].get("timeZone") or "UTC"
    return UTC if name == "UTC" else ZoneInfo(name)


def jira_time(when: datetime, zone: tzinfo = UTC) -> str:
    """`2022-05-17T04:06:55.076-0700`: milliseconds and a colon-less offset, in the user's zone."""
    local = when.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def adf(text: str) -> Record:
    """Plain text as an Atlassian Document Format document (one paragraph per line)."""
    lines = [line for line in text.split("\n") if line]
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in lines]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _errors(status: int, *messages: str) -> HttpError:
    return HttpError(status, {"errorMessages": list(messages), "errors": {}})


class Jira(Vendor):
    name = "jira"
    collections = ("issues",)
    default_settings = {
        "site": "example", "timeZone": "UTC", "embedded_comments": 20, "embedded_changelog": 10, "max_results": 100,
        "account": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Caseline Bot", "accountType": "atlassian",
                    "emailAddress": "caseline@example.com"},
    }  # fmt: skip

    def encode_time(self, key: str, when: datetime) -> Any:
        return jira_time(when)  # re-written in the user's zone by `normalize`

    def normalize(self, world: World, collection: str, record: Record) -> None:
        zone = _zone(world)
        record["id"] = str(record["id"])
        fields = record.setdefault("fields", {})
        fields.setdefault("created", jira_time(world.now))
        fields.setdefault("updated", fields["created"])
        for name in _TIME_FIELDS:
            if fields.get(name):
                fields[name] = jira_time(parse_time(fields[name]), zone)
        if isinstance(fields.get("description"), str):
            fields["description"] = adf(fields["description"])
        fields.setdefault("summary", "")
        fields.setdefault("status", {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}})
        fields.setdefault("labels", [])
        fields.setdefault("issuelinks", [])
        fields.setdefault("project", {"key": record["key"].split("-")[0]})
        fields.setdefault("resolutiondate", None)
        site = world.settings["jira"]["site"]
        record["self"] = f"https://{site}.atlassian.net/rest/api/3/issue/{record['id']}"
        for name in ("comments", "changelog", "remotelinks", "_old_keys"):
            record.setdefault(name, [])
        for index, comment in enumerate(record["comments"], 1):
            comment.setdefault("id", str(int(record["id"]) * 100 + index))
            comment.setdefault("created", fields["created"])
            comment.setdefault("updated", comment["created"])
            comment.setdefault("jsdPublic", True)
            for name in ("created", "updated"):
                comment[name] = jira_time(parse_time(comment[name]), zone)
            if isinstance(comment.get("body"), str):
                comment["body"] = adf(comment["body"])
        for index, history in enumerate(record["changelog"], 1):
            history.setdefault("id", str(int(record["id"]) * 100 + index))
            history["created"] = jira_time(parse_time(history.get("created") or fields["created"]), zone)
        for index, link in enumerate(record["remotelinks"], 1):
            link.setdefault("id", int(record["id"]) * 100 + index)

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        """Bump `updated`; a status change adds a changelog history (and resolves in a done category)."""
        zone, fields, old = _zone(world), record["fields"], before.get("fields") or {}
        fields["updated"] = jira_time(when, zone)
        if record.get("key") != before.get("key"):  # moved to another project: the old key keeps resolving
            record["_old_keys"] = [*record.get("_old_keys", []), before["key"]]
            fields["project"] = {"key": record["key"].split("-")[0]}
        new_status, old_status = fields.get("status") or {}, old.get("status") or {}
        if new_status.get("name") != old_status.get("name"):
            item = {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": old_status.get("id"),
                    "fromString": old_status.get("name"), "to": new_status.get("id"),
                    "toString": new_status.get("name")}  # fmt: skip
            record["changelog"].append({"id": str(world.next_id("jira.changelog", 100000)), "items": [item],
                                        "author": world.settings["jira"]["account"],
                                        "created": jira_time(when, zone)})  # fmt: skip
            done = (new_status.get("statusCategory") or {}).get("key") in _DONE
            fields["resolutiondate"] = jira_time(when, zone) if done else None

    def add_comment(
        self, world: World, collection: str, key: str, body: str, *, public: bool, author: Any, when: datetime
    ) -> Record:
        issue = world.table(self.name, collection)[key]
        before = copy.deepcopy(issue)
        stamp = jira_time(when, _zone(world))
        comment = {"id": str(world.next_id("jira.comment", 100000)), "body": adf(body), "created": stamp,
                   "author": author or world.settings["jira"]["account"], "updated": stamp,
                   "jsdPublic": public}  # fmt: skip
        issue["comments"].append(comment)
        self.touch(world, collection, issue, when, before)
        return comment

    # https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/
    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        try:
            decoded = base64.b64decode(value, validate=True).decode() if scheme.lower() == "basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{credentials.get('email')}:{credentials.get('token')}"

    def unauthorized(self) -> Response:
        return Response(401, {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}},
                        {"WWW-Authenticate": 'Basic realm="protected-area"'})  # fmt: skip

    # https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ : 429 + Retry-After (seconds).
    def rate_limited(self, state: RateState) -> Response:
        headers = {"Retry-After": str(state.retry_after), "RateLimit-Reason": "jira-burst-based",
                   **self._limit_headers(state)}  # fmt: skip
        return Response(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers)

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        return self._limit_headers(state)

    def _limit_headers(self, state: RateState) -> dict[str, str]:
        reset = datetime.fromtimestamp(state.reset_at, UTC).strftime("%Y-%m-%dT%H:%MZ")
        return {"X-RateLimit-Limit": str(state.limit), "X-RateLimit-Remaining": str(state.remaining),
                "X-RateLimit-Reset": reset}  # fmt: skip

    def not_found(self, method: str, path: str) -> Response:
        return Response(404, {"errorMessages": ["Resource not found."], "errors": {}})


VENDOR = Jira()


# --- JQL (the subset connectors send) -------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|[=<>(),~])|(?P<word>[^\s"\'=<>!(),~]+))'
)
_DATE = re.compile(r"^(\d{4})[-/](\d{2})[-/](\d{2})(?:\s+(\d{2}):(\d{2}))?$")
_RELATIVE = re.compile(r"^([-+]?)(\d+)([wdhm])$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
Predicate = Callable[[Record], bool]


class _Jql:
    """A recursive-descent parser for `clause (AND|OR clause)* [ORDER BY field [ASC|DESC], ...]`.

    Clauses: `project|key|status|labels|issuetype|assignee = v`, `!= v`, `in (a, b)`, `not in (…)`, and
    `updated|created|resolutiondate >=, >, <=, <, = "yyyy-MM-dd[ HH:mm]"` (or `-5m`), read in `zone`.
    """

    def __init__(self, text: str, zone: tzinfo, now: datetime) -> None:
        self.zone, self.now = zone, now
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            found = _TOKEN.match(text, pos)
            if not found:
                raise _errors(400, f"Error in the JQL Query: unexpected character at position {pos}.")
            kind = found.lastgroup or "word"
            value = found.group(kind)
            self.tokens.append((kind, value[1:-1] if kind == "str" else value))
            pos = found.end()
        self.pos = 0

    def _peek(self, upper: bool = True) -> str | None:
        if self.pos >= len(self.tokens):
            return None
        kind, value = self.tokens[self.pos]
        return value.upper() if upper and kind != "str" else value

    def _take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise _errors(400, "Error in the JQL Query: the query ended unexpectedly.")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _expect(self, value: str) -> None:
        if self._peek() != value:
            raise _errors(400, f"Error in the JQL Query: expecting '{value}' but got '{self._peek(False)}'.")
        self.pos += 1

    def parse(self) -> tuple[Predicate | None, list[tuple[str, bool]]]:
        where = None if self._peek() in (None, "ORDER") else self._or()
        order: list[tuple[str, bool]] = []
        if self._peek() == "ORDER":
            self.pos += 1
            self._expect("BY")
            while True:
                field = self._take()[1].lower()
                descending = False
                if self._peek() in ("ASC", "DESC"):
                    descending = self._take()[1].upper() == "DESC"
                order.append((field, descending))
                if self._peek() != ",":
                    break
                self.pos += 1
        if self._peek() is not None:
            raise _errors(400, f"Error in the JQL Query: unexpected '{self._peek(False)}'.")
        return where, order

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._unit()]
        while self._peek() == "AND":
            self.pos += 1
            parts.append(self._unit())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _unit(self) -> Predicate:
        if self._peek() == "(":
            self.pos += 1
            inner = self._or()
            self._expect(")")
            return inner
        if self._peek() == "NOT":
            self.pos += 1
            inner = self._unit()
            return lambda r: not inner(r)
        return self._clause()

    def _clause(self) -> Predicate:
        field = self._take()[1].lower()
        op = self._take()[1].upper()
        if op == "NOT":
            self._expect("IN")
            op = "NOT IN"
        if field in _TIME_FIELDS:
            return self._time(field, op)
        getter = _GETTERS.get(field)
        if getter is None:
            raise _errors(400, f"Field '{field}' does not exist or you do not have permission to view it.")
        if op in ("IN", "NOT IN"):
            self._expect("(")
            values = []
            while self._peek() != ")":
                values.append(self._take()[1].lower())
                if self._peek() == ",":
                    self.pos += 1
            self._expect(")")
            wanted = set(values)
            hit: Predicate = lambda r: bool(getter(r) & wanted)  # noqa: E731
            return hit if op == "IN" else (lambda r: not hit(r))
        if op not in ("=", "!="):
            raise _errors(400, f"The operator '{op}' is not supported by the '{field}' field.")
        value = self._take()[1].lower()
        return (lambda r: value in getter(r)) if op == "=" else (lambda r: value not in getter(r))

    def _time(self, field: str, op: str) -> Predicate:
        literal = self._take()[1].strip()
        bound = self._instant(literal)
        compare: dict[str, Callable[[datetime], bool]] = {
            ">=": lambda t: t >= bound, ">": lambda t: t > bound, "<=": lambda t: t <= bound,
            "<": lambda t: t < bound, "=": lambda t: t == bound, "!=": lambda t: t != bound,
        }  # fmt: skip
        if op not in compare:
            raise _errors(400, f"The operator '{op}' is not supported by the '{field}' field.")
        test = compare[op]
        return lambda r: bool(r["fields"].get(field)) and test(parse_time(r["fields"][field]))

    def _instant(self, literal: str) -> datetime:
        """`"yyyy-MM-dd HH:mm"` / `"yyyy/MM/dd"` in the user's zone, or `-5m` back from now."""
        if found := _DATE.match(literal):
            y, mo, d, h, mi = (int(x) if x else 0 for x in found.groups())
            return datetime(y, mo, d, h, mi, tzinfo=self.zone).astimezone(UTC)
        if found := _RELATIVE.match(literal):
            seconds = int(found.group(2)) * _UNITS[found.group(3)]
            return self.now + timedelta(seconds=-seconds if found.group(1) == "-" else seconds)
        raise _errors(400, f"Date value '{literal}' for field is invalid. Valid formats include: "
                           "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                           "or a period format e.g. '-5d', '4w 2d'.")  # fmt: skip


def _names(value: Any, *keys: str) -> set[str]:
    return {str(value.get(k)).lower() for k in keys if value.get(k)} if isinstance(value, Mapping) else set()


_GETTERS: dict[str, Callable[[Record], set[str]]] = {
    "project": lambda r: _names(r["fields"].get("project"), "key", "name", "id"),
    "key": lambda r: {r["key"].lower(), *(k.lower() for k in r.get("_old_keys", []))},
    "issuekey": lambda r: {r["key"].lower(), *(k.lower() for k in r.get("_old_keys", []))},
    "status": lambda r: _names(r["fields"].get("status"), "name", "id"),
    "issuetype": lambda r: _names(r["fields"].get("issuetype"), "name", "id"),
    "assignee": lambda r: _names(r["fields"].get("assignee"), "accountId", "displayName", "emailAddress"),
    "labels": lambda r: {str(x).lower() for x in r["fields"].get("labels") or []},
}


def _sort_key(field: str) -> Callable[[Record], Any]:
    if field in _TIME_FIELDS:
        return lambda r: parse_time(r["fields"][field]) if r["fields"].get(field) else datetime.min.replace(tzinfo=UTC)
    if field in ("key", "issuekey", "id"):
        return lambda r: int(r["id"])
    raise _errors(400, f"Field '{field}' does not exist or you do not have permission to view it.")


# --- views ----------------------------------------------------------------------------------------


def _issue_view(world: World, issue: Record, fields: list[str] | None, expand: set[str]) -> Record:
    """An issue as search returns it: only the requested fields (none asked: only the id)."""
    if not fields:
        return {"id": issue["id"]}
    everything = {"*all", "*navigable"} & set(fields)
    chosen = {k: copy.deepcopy(v) for k, v in issue["fields"].items() if everything or k in fields}
    settings = world.settings["jira"]
    if everything or "comment" in fields:
        shown = issue["comments"][: settings["embedded_comments"]]
        chosen["comment"] = {"comments": copy.deepcopy(shown), "maxResults": len(shown),
                             "total": len(issue["comments"]), "startAt": 0}  # fmt: skip
    out: Record = {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
                   "id": issue["id"], "self": issue["self"], "key": issue["key"], "fields": chosen}  # fmt: skip
    if "changelog" in expand:
        shown = issue["changelog"][: settings["embedded_changelog"]]
        out["changelog"] = {"startAt": 0, "maxResults": len(shown), "total": len(issue["changelog"]),
                            "histories": copy.deepcopy(shown)}  # fmt: skip
    return out


def _find(world: World, ref: str) -> Record:
    """An issue by id, key, or a key it had before it moved (Jira redirects those)."""
    issues = world.table("jira", "issues")
    if ref in issues:
        return issues[ref]
    for issue in issues.values():
        if issue["key"] == ref.upper() or ref.upper() in issue.get("_old_keys", []):
            return issue
    raise _errors(404, "Issue does not exist or you do not have permission to see it.")


def _int(args: Mapping[str, Any], name: str, default: int) -> int:
    try:
        return max(0, int(args.get(name, default)))
    except (TypeError, ValueError):
        raise _errors(400, f"The value of '{name}' must be an integer.") from None


def _q(req: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in req.query.items() if v}


def _listish(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(x).strip() for x in items if str(x).strip()]


# --- routes ---------------------------------------------------------------------------------------


@VENDOR.route("GET", "/rest/api/3/myself")
def myself(world: World, req: Request) -> Response:
    account = dict(world.settings["jira"]["account"])
    return Response(200, {**account, "active": True, "timeZone": world.settings["jira"]["timeZone"], "locale": "en_US",
                          "self": f"https://{world.settings['jira']['site']}.atlassian.net/rest/api/3/user?accountId="
                                  f"{account.get('accountId')}"})  # fmt: skip


@VENDOR.route("GET", "/rest/api/3/search")
@VENDOR.route("POST", "/rest/api/3/search")
@VENDOR.route("GET", "/rest/api/2/search")
@VENDOR.route("POST", "/rest/api/2/search")
def legacy_search(world: World, req: Request) -> Response:
    return Response(410, {"errorMessages": [GONE]})


@VENDOR.route("GET", "/rest/api/3/search/jql")
@VENDOR.route("POST", "/rest/api/3/search/jql")
def search_jql(world: World, req: Request) -> Response:
    """Enhanced search: `nextPageToken` paging, `isLast`; no `total`, no `startAt` (never inferred from size)."""
    if req.method == "POST":
        try:
            args = req.json() or {}
        except ValueError:
            raise _errors(400, "Invalid request payload. Refer to the REST API documentation and try again.") from None
    else:
        args = {k: v[-1] for k, v in req.query.items()}
    text = str(args.get("jql") or "")
    where, order = _Jql(text, _zone(world), world.now).parse()
    if where is None:
        raise _errors(400, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
    issues = sorted((i for i in world.table("jira", "issues").values() if where(i)), key=lambda i: int(i["id"]))
    for field, descending in reversed(order or [("created", True)]):
        issues.sort(key=_sort_key(field), reverse=descending)
    size = min(max(1, _int(args, "maxResults", 50)), int(world.settings["jira"]["max_results"]))
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    start = 0
    if args.get("nextPageToken"):
        token = decode_cursor(str(args["nextPageToken"]))
        if not token or token.get("q") != digest:
            raise _errors(400, "The provided next page token is invalid or expired.")
        start = int(token["o"])
    page = issues[start : start + size]
    fields = _listish(args.get("fields"))
    expand = set(_listish(args.get("expand")) or [])
    body: Record = {"issues": [_issue_view(world, i, fields, expand) for i in page]}
    if start + size < len(issues):
        body["nextPageToken"] = encode_cursor({"o": start + size, "q": digest})
    body["isLast"] = start + size >= len(issues)
    return Response(200, body)


@VENDOR.route("GET", "/rest/api/3/issue/{ref}")
def get_issue(world: World, req: Request) -> Response:
    fields = _listish(req.arg("fields")) or ["*all"]
    expand = set(_listish(req.arg("expand")) or [])
    return Response(200, _issue_view(world, _find(world, req.params["ref"]), fields, expand))


@VENDOR.route("GET", "/rest/api/3/issue/{ref}/comment")
def issue_comments(world: World, req: Request) -> Response:
    comments = list(_find(world, req.params["ref"])["comments"])
    if (req.arg("orderBy") or "created").lstrip("+") == "-created":
        comments.reverse()
    start, size = _int(_q(req), "startAt", 0), min(max(1, _int(_q(req), "maxResults", 50)), 5000)
    return Response(200, {"startAt": start, "maxResults": size, "total": len(comments),
                          "comments": copy.deepcopy(comments[start : start + size])})  # fmt: skip


@VENDOR.route("GET", "/rest/api/3/issue/{ref}/changelog")
def issue_changelog(world: World, req: Request) -> Response:
    issue = _find(world, req.params["ref"])
    histories = issue["changelog"]
    start, size = _int(_q(req), "startAt", 0), min(max(1, _int(_q(req), "maxResults", 100)), 100)
    page = histories[start : start + size]
    return Response(200, {"self": f"{issue['self']}/changelog?maxResults={size}&startAt={start}", "maxResults": size,
                          "startAt": start, "total": len(histories), "isLast": start + size >= len(histories),
                          "values": copy.deepcopy(page)})  # fmt: skip


@VENDOR.route("GET", "/rest/api/3/issue/{ref}/remotelink")
def issue_remote_links(world: World, req: Request) -> Response:
    issue = _find(world, req.params["ref"])
    return Response(200, [{"self": f"{issue['self']}/remotelink/{link['id']}", **copy.deepcopy(link)}
                          for link in issue["remotelinks"]])  # fmt: skip
