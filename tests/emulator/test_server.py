"""The server: routing, fault injection (observable, seeded, harmless to the world), clean shutdown, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from importlib import resources
from typing import Any

import httpx
import pytest

from caseline.emulator import Faults, World, serve
from tests.emulator.conftest import HUBSPOT_HEADERS, ZENDESK_AUTH

EXPORT = "/api/v2/incremental/tickets/cursor.json"


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("caseline-emulator")]


def test_one_port_serves_every_vendor_under_its_prefix(world: World) -> None:
    with serve(world) as emu:
        assert emu.base_url("zendesk") == f"http://127.0.0.1:{emu.port}/zendesk"
        assert set(emu.base_urls()) >= {"zendesk", "intercom", "hubspot"}
        unknown_vendor = httpx.get(f"{emu.url}/myspace/api")
        assert unknown_vendor.status_code == 404 and "zendesk" in unknown_vendor.json()["known"]
        unknown_path = httpx.get(f"{emu.base_url('zendesk')}/api/v2/nothing.json", auth=ZENDESK_AUTH)
        assert unknown_path.status_code == 404 and unknown_path.json()["error"] == "InvalidEndpoint"
        with pytest.raises(KeyError):
            emu.base_url("myspace")


def test_error_faults_answer_5xx_and_leave_the_world_alone(world: World) -> None:
    before = world.to_dict()
    with (
        serve(world, faults=Faults(seed=1, error_rate=1.0)) as emu,
        httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH) as client,
    ):
        statuses = [client.get(EXPORT, params={"start_time": 0}).status_code for _ in range(12)]
        assert set(statuses) <= {500, 502, 503} and len(set(statuses)) > 1
        assert emu.stats.faults["error"] == 12
    assert world.to_dict() == before


def test_same_seed_gives_the_same_fault_sequence(world: World) -> None:
    def run() -> list[int]:
        with (
            serve(world, faults=Faults(seed=42, error_rate=0.5)) as emu,
            httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH) as client,
        ):
            return [client.get(EXPORT, params={"start_time": 0}).status_code for _ in range(16)]

    first = run()
    assert first == run() and 200 in first and len(set(first)) > 1


def test_resets_cut_connections_before_or_during_the_body(world: World) -> None:
    with (
        serve(world, faults=Faults(seed=3, reset_rate=1.0)) as emu,
        httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH) as client,
    ):
        headers_then_cut = 0
        for _ in range(12):
            # the cut comes either before the status line or after the headers, in the body
            with (
                pytest.raises(httpx.TransportError),
                client.stream("GET", EXPORT, params={"start_time": 0}) as response,
            ):
                assert response.status_code == 200
                headers_then_cut += 1
                response.read()
        assert emu.stats.faults["reset"] + emu.stats.faults["reset_mid_body"] == 12
        assert headers_then_cut == emu.stats.faults["reset_mid_body"] > 0
        assert emu.stats.faults["reset"] > 0


def test_slow_responses_trip_client_timeouts_and_stop_does_not_wait(world: World) -> None:
    with (
        serve(world, faults=Faults(slow_rate=1.0, slow_seconds=30)) as emu,
        httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH, timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            client.get(EXPORT, params={"start_time": 0})
        assert emu.stats.faults["slow"] == 1
    assert emulator_threads() == []  # the 30 s wait was released by stop()


def test_malformed_items_are_one_bad_item_per_page(world: World) -> None:
    before = world.to_dict()
    with (
        serve(world, faults=Faults(seed=5, malformed_rate=1.0)) as emu,
        httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH) as client,
    ):
        kinds = set()
        for _ in range(12):
            tickets = client.get(EXPORT, params={"start_time": 0, "per_page": 6}).json()["tickets"]
            bad = [t for t in tickets if _odd(t)]
            assert len(bad) == 1 and len(tickets) == 6
            kinds.add(_odd(bad[0]))
        assert emu.stats.faults["malformed"] == 12
        assert kinds == {"no id", "null id", "null times", "odd times"}
    assert world.to_dict() == before


def _odd(ticket: dict[str, Any]) -> str:
    if "id" not in ticket:
        return "no id"
    if ticket["id"] is None:
        return "null id"
    if ticket["updated_at"] is None:
        return "null times"
    if ticket["updated_at"] == "not-a-time":
        return "odd times"
    return ""


def test_faults_can_target_one_vendor(world: World) -> None:
    with serve(world, faults=Faults(error_rate=1.0, vendors={"hubspot"})) as emu:
        assert httpx.get(f"{emu.base_url('zendesk')}{EXPORT}?start_time=0", auth=ZENDESK_AUTH).status_code == 200
        hubspot = httpx.get(f"{emu.base_url('hubspot')}/crm/v3/objects/tickets", headers=HUBSPOT_HEADERS)
        assert hubspot.status_code >= 500


def test_stop_leaves_no_thread_and_no_listener(world: World) -> None:
    assert emulator_threads() == []
    emu = serve(world)
    idle = httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH)  # keeps a keep-alive connection open
    assert idle.get(EXPORT, params={"start_time": 0}).status_code == 200
    assert len(emulator_threads()) >= 2
    emu.stop()
    emu.stop()  # idempotent
    assert emulator_threads() == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{emu.url}/zendesk{EXPORT}", timeout=1)
    idle.close()


def test_module_entry_point_serves_a_world_file_until_interrupted() -> None:
    example = str(resources.files("caseline.emulator") / "worlds" / "example.json")
    process = subprocess.Popen(
        [sys.executable, "-m", "caseline.emulator", example],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("serving"):
                break
            name, _, url = line.strip().partition(": ")
            lines[name] = url
        assert {"hubspot", "intercom", "zendesk"} <= set(lines)
        answer = httpx.get(f"{lines['zendesk']}/api/v2/tickets/101/comments.json", auth=ZENDESK_AUTH, timeout=5)
        assert [c["id"] for c in answer.json()["comments"]] == [5001, 5002]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
