"""examples/addressbook end to end: the server as a process on a fresh SQLite file, the
example client as a process, and the Python client (amfast.remoting.client) for what the
walk-through does not show: faults, rollbacks, and that only commits are announced.

Every wait is bounded; every process is stopped at the end.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from amfast.class_def import ClassDefMapper
from amfast.remoting.client import RemotingFault, RemotingService
from tests.support.net import free_port, wait_for_port
from tests.support.processes import Process

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "addressbook"
WAIT = 15.0

sys.path.insert(0, str(EXAMPLE))
import addressbook  # noqa: E402  (the example's module, as its server and client import it)


def start_server(db: Path):
    port = free_port()
    process = Process([str(EXAMPLE / "server.py"), "--port", str(port),
                       "--db", f"sqlite:///{db}"])
    try:
        wait_for_port(port, process.proc, timeout=WAIT)
        yield port
    finally:
        err = process.stop()
        assert "Traceback" not in err, err


@pytest.fixture
def server(tmp_path):
    """A server on a fresh database."""
    yield from start_server(tmp_path / "addressbook.db")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the tests that need no fresh database."""
    yield from start_server(tmp_path_factory.mktemp("addressbook") / "addressbook.db")


@pytest.mark.parametrize("channel", ["amf", "longpoll"])
def test_the_example_client_walks_through_the_address_book(server, channel):
    result = subprocess.run([sys.executable, str(EXAMPLE / "client.py"), "--port", str(server),
                             "--channel", channel], cwd=EXAMPLE.parents[1],
                            capture_output=True, text=True, timeout=WAIT * 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "loaded: Ann Lee <ann@work.example, ann@home.example>, not sent: phone_numbers",
        "loaded: Bob Ray <bob@home.example>, not sent: phone_numbers",
        "phone numbers of Ann: 555-0101, 555-0102",
        "saved: Anna Lee <anna@work.example, anna@other.example>, not sent: phone_numbers",
        "phone numbers kept: 555-0101, 555-0102",
        "created: Cy New with key [3]",
        "after remove: AddressBookError: addressbook.User [3] does not exist",
        "told: user 1 saved",
        "told: user 3 saved",
        "told: user 3 removed",
    ]


@pytest.fixture
def clients(shared_server):
    mapper = ClassDefMapper()
    addressbook.map_address_book(mapper)
    url = f"http://127.0.0.1:{shared_server}/amf"
    book = RemotingService(url, class_def_mapper=mapper)
    watcher = RemotingService(url, class_def_mapper=mapper)
    watcher.subscribe(addressbook.TOPIC)
    yield book, watcher
    book.close()
    watcher.close()


def call(book, operation, *args):
    return book.remote_call(addressbook.SERVICE, operation, *args)


def changes(watcher, count: int, timeout: float = 5.0) -> list:
    """What the Consumer was told, once ``count`` messages came or ``timeout`` passed."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += [message.body for message in watcher.poll()]
        if len(seen) >= count:
            break
        time.sleep(0.05)
    return seen


def test_a_failed_save_is_rolled_back_and_announced_to_nobody(clients):
    book, watcher = clients
    bob = call(book, "load", "addressbook.User", [2])
    bob.last_name = "Changed"
    bob.emails.append(addressbook.Email(label="broken", email=None))  # NOT NULL
    with pytest.raises(RemotingFault, match="IntegrityError"):
        call(book, "save", bob)
    again = call(book, "load", "addressbook.User", [2])
    assert again.last_name == "Ray" and [e.email for e in again.emails] == ["bob@home.example"]
    assert changes(watcher, 1, timeout=0.5) == []
    again.first_name = "Robert"
    call(book, "saveList", [again])
    assert changes(watcher, 1) == [{"change": "saved", "id": 2}]


def test_editing_a_phone_number_announces_its_user(clients):
    book, watcher = clients
    [phone] = call(book, "loadAttr", "addressbook.User", [2], "phone_numbers")
    assert isinstance(phone, addressbook.PhoneNumber) and phone.number == "555-0201"
    phone.number = "555-0299"
    assert call(book, "save", phone).number == "555-0299"
    assert changes(watcher, 1) == [{"change": "saved", "id": 2}]


@pytest.mark.parametrize("args, message", [
    (("load", "addressbook.Nope", [1]), "no address book class 'addressbook.Nope'"),
    (("load", "flex.messaging.messages.AsyncMessage", [1]), "no address book class"),
    (("load", "addressbook.User", 1), "a key is a list of 1 value"),
    (("load", "addressbook.User", [99]), r"addressbook.User \[99\] does not exist"),
    (("loadAttr", "addressbook.User", [1], "_sa_instance_state"), "has no attribute"),
    (("save", {"first_name": "x"}), "cannot save a dict"),
])
def test_bad_requests_are_faults(clients, args, message):
    book, _ = clients
    with pytest.raises(RemotingFault, match=message):
        call(book, *args)
