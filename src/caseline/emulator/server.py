"""The emulator's HTTP side: one loopback port, one path prefix per vendor, auth, rate limits and faults.

`serve(world)` starts a stdlib HTTP/1.1 server on 127.0.0.1 (ephemeral port) in a daemon thread; a client
calls `{emu.base_url("zendesk")}/api/v2/...` exactly as it would call the vendor's host. Every request runs:
route → auth (vendor's 401) → rate limit (vendor's 429) → faults → handler (under the world lock).
"""

from __future__ import annotations

import contextlib
import copy
import re
import socket
import struct
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from caseline.emulator.policy import Faults, RateLimiter, RateLimits
from caseline.emulator.vendors import VENDORS, get_vendor
from caseline.emulator.vendors._base import HttpError, Record, Request, Response
from caseline.emulator.world import World

__all__ = ["Emulator", "Stats", "serve"]


class Stats:
    """What the emulator saw and did; counters are keyed by vendor (or `vendor METHOD template`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # per vendor
        self.endpoints: Counter[str] = Counter()  # "zendesk GET /api/v2/tickets/{id}/comments.json"
        self.rate_limited: Counter[str] = Counter()  # 429s served, per vendor
        self.unauthorized: Counter[str] = Counter()  # 401s served, per vendor
        self.faults: Counter[str] = Counter()  # injected, per kind
        self.notes: Counter[str] = Counter()  # e.g. "intercom Intercom-Version=2.11"
        self.crashes: list[str] = []  # handler bugs (answered with 500); tests should expect none

    def bump(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def crash(self, text: str) -> None:
        with self._lock:
            self.crashes.append(text)


class Emulator:
    """A running emulator; `stop()` (or leaving the `with` block) closes every socket and thread."""

    def __init__(self, world: World, *, faults: Faults | None, limits: RateLimits | None, port: int = 0) -> None:
        self.world = world
        self.faults = faults
        self.limiter = RateLimiter(limits)
        self.stats = Stats()
        self.stopping = threading.Event()
        self._server = _Server(self, port)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="caseline-emulator", daemon=True
        )
        self._thread.start()

    def base_url(self, vendor: str) -> str:
        """`http://127.0.0.1:PORT/zendesk`: put the vendor's documented paths after it."""
        get_vendor(vendor)
        return f"{self.url}/{vendor}"

    def base_urls(self) -> dict[str, str]:
        return {name: self.base_url(name) for name in sorted(VENDORS)}

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()  # releases slow-fault waits
        self._server.shutdown()
        for worker in self._server.close_connections():
            worker.join(timeout=5)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def serve(world: World, *, faults: Faults | None = None, limits: RateLimits | None = None, port: int = 0) -> Emulator:
    """Start serving `world` on 127.0.0.1 (ephemeral port unless given); use as a context manager."""
    return Emulator(world, faults=faults, limits=limits, port=port)


class _Server(HTTPServer):
    """An HTTPServer with one daemon thread per connection, all of which `close_connections` can end."""

    def __init__(self, emulator: Emulator, port: int) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._open: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="caseline-emulator-connection",
            daemon=True,
        )
        with self._lock:
            self._open[request] = worker
        worker.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._open.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # clients hanging up (or our own injected resets) are not errors
        super().handle_error(request, client_address)

    def close_connections(self) -> list[threading.Thread]:
        with self._lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [worker for _, worker in open_now]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real hosts
    timeout = 30  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the stats say what happened

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        emu = self.server.emulator
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        vendor_name, _, rest = split.path.lstrip("/").partition("/")
        vendor = VENDORS.get(vendor_name)
        if vendor is None:
            self._send(Response(404, {"error": f"no emulated vendor {vendor_name!r}", "known": sorted(VENDORS)}))
            return
        emu.stats.bump(emu.stats.requests, vendor_name)
        found = vendor.match(self.command, f"/{rest}")
        if found is None:
            emu.stats.bump(emu.stats.endpoints, f"{vendor_name} {self.command} (no route)")
            self._send(vendor.not_found(self.command, f"/{rest}"))
            return
        route, params = found
        emu.stats.bump(emu.stats.endpoints, f"{vendor_name} {self.command} {route.template}")
        for note in vendor.observe(self.headers):
            emu.stats.bump(emu.stats.notes, f"{vendor_name} {note}")

        credentials = emu.world.credentials.get(vendor_name)
        if credentials is not None and not vendor.authenticate(self.headers, credentials):
            emu.stats.bump(emu.stats.unauthorized, vendor_name)
            self._send(vendor.unauthorized())
            return
        state = emu.limiter.check(vendor_name)
        if state is not None and not state.allowed:
            emu.stats.bump(emu.stats.rate_limited, vendor_name)
            self._send(vendor.rate_limited(state))
            return

        faults = emu.faults
        kinds = faults.draw(vendor_name) if faults else []
        if faults and "slow" in kinds:
            emu.stats.bump(emu.stats.faults, "slow")
            emu.stopping.wait(faults.slow_seconds)
        if faults and "error" in kinds:
            emu.stats.bump(emu.stats.faults, "error")
            self._send(_server_error(faults.pick([500, 502, 503])))
            return
        if "reset" in kinds:
            emu.stats.bump(emu.stats.faults, "reset")
            self._reset()
            return

        request = Request(
            method=self.command,
            path=f"/{rest}",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            base_url=emu.base_url(vendor_name),
            params=params,
        )
        try:
            with emu.world.lock:
                response = route.handler(emu.world, request)
        except HttpError as error:
            response = error.response
        except Exception as exc:
            emu.stats.crash(traceback.format_exc())
            response = Response(500, {"error": "emulator handler crashed", "detail": repr(exc)})
        if faults and "malformed" in kinds and response.status < 300 and _malform(response, faults):
            emu.stats.bump(emu.stats.faults, "malformed")
        if state is not None:
            response.headers.update(vendor.rate_headers(state, route))
        cut = "reset_mid_body" in kinds
        if cut:
            emu.stats.bump(emu.stats.faults, "reset_mid_body")
        self._send(response, cut=cut)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send(Response(411, {"error": "send a Content-Length"}))
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response, *, cut: bool = False) -> None:
        payload = response.payload()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
            self._reset()
            return
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Cut the connection abruptly: SO_LINGER 0 makes close() send a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.rfile.close()  # drop makefile's reference, or close() would be deferred
        with contextlib.suppress(OSError):
            self.connection.close()


def _server_error(status: int) -> Response:
    if status == 500:
        return Response(500, {"error": "InternalServerError", "description": "emulated fault"})
    # Gateways in front of the vendors answer 502/503 with HTML, not with the vendor's JSON.
    reason = HTTPStatus(status).phrase
    html = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return Response(status, html, content_type="text/html; charset=utf-8")


_TIME_KEY = re.compile(r"(_at|At|date|timestamp)$")


def _item_lists(value: Any, depth: int = 0) -> Iterator[list[Any]]:
    """Lists of objects in a body (top level and one level down, e.g. conversation_parts)."""
    if depth > 2:
        return
    children = value.values() if isinstance(value, dict) else []
    for child in children:
        if isinstance(child, list) and child and all(isinstance(item, dict) for item in child):
            yield child
        elif isinstance(child, dict):
            yield from _item_lists(child, depth + 1)


def _malform(response: Response, faults: Faults) -> bool:
    """Corrupt one item of the longest item list in `response.body` (a copy of world data); False if none."""
    response.body = copy.deepcopy(response.body)  # never touch what a handler may share with the world
    lists = list(_item_lists(response.body))
    if not lists:
        return False
    items = max(lists, key=len)
    index = faults.rng_int(len(items))
    item: Record = copy.deepcopy(items[index])
    how = faults.rng_int(4)
    times = [key for key in item if _TIME_KEY.search(key)]
    if how == 0 or not times:
        item.pop("id", None)  # missing id
    elif how == 1:
        item["id"] = None
    elif how == 2:
        for key in times:
            item[key] = None  # null times
    else:
        for key in times:
            item[key] = "not-a-time"  # odd values
        if isinstance(item.get("properties"), dict):
            item["properties"] = []
    items[index] = item
    return True
