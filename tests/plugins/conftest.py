"""Fixtures for plugin tests: a real Radicale CalDAV server on 127.0.0.1, started once."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import caldav
import pytest

RADICALE_USER = "alice"
RADICALE_PASSWORD = "secret"  # Radicale runs with auth type "none": any password is accepted
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def radicale_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Radicale server storing into a temp folder; stopped after the session."""
    folder = tmp_path_factory.mktemp("radicale")
    port = _free_port()
    log = (folder / "radicale.log").open("wb")
    command = [
        sys.executable, "-m", "radicale",
        "--auth-type", "none", "--auth-delay", "0",
        "--storage-filesystem-folder", str(folder / "collections"),
        "--server-hosts", f"127.0.0.1:{port}",
        "--logging-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            try:
                proc.wait(timeout=0.05)  # doubles as the poll interval; returns only if it died
            except subprocess.TimeoutExpired:
                pass
            else:
                pytest.fail(f"radicale exited with {proc.returncode}: {_log(folder)}")
            if time.monotonic() > deadline:
                pytest.fail(f"radicale did not answer on port {port}: {_log(folder)}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _log(folder: Path) -> str:
    return (folder / "radicale.log").read_text(errors="replace")[-2000:]


class CalDavCalendar(NamedTuple):
    url: str
    username: str
    password: str


@pytest.fixture
def caldav_calendar(radicale_url: str) -> CalDavCalendar:
    """A fresh, empty calendar collection (e.g. http://127.0.0.1:PORT/alice/work-1a2b/)."""
    client = caldav.DAVClient(url=radicale_url, username=RADICALE_USER, password=RADICALE_PASSWORD)
    calendar = client.principal().make_calendar(name="work", cal_id=f"work-{uuid.uuid4().hex[:8]}")
    return CalDavCalendar(str(calendar.url), RADICALE_USER, RADICALE_PASSWORD)
