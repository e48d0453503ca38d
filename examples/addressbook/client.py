"""A walk through the address book: load, edit and save users as typed objects, and watch.

Run:  python examples/addressbook/client.py [--port 8002] [--channel amf]
(against a fresh examples/addressbook/server.py).  One connection edits, another is a
Consumer of 'addressbook' and prints the changes it is told of.  The client maps the
same classes as the server, so users arrive as ``addressbook.User`` instances (transient
SQLAlchemy objects: the client needs no database).
"""
import argparse
import time

from addressbook import SERVICE, TOPIC, Email, User, map_address_book

from amfast.class_def import ClassDefMapper
from amfast.remoting.client import RemotingFault, RemotingService

USER = "addressbook.User"


def describe(user: User) -> str:
    """Its name, its e-mail addresses, and the relations the server did not send (those
    named in sa_lazy stay unset on the decoded object)."""
    emails = ", ".join(e.email for e in user.emails)
    not_sent = [name for name in ("emails", "phone_numbers") if name not in vars(user)]
    return f"{user.first_name} {user.last_name} <{emails}>, not sent: {', '.join(not_sent)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--channel", default="amf", help="amf (polling) or longpoll")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/{args.channel}"
    mapper = ClassDefMapper()
    map_address_book(mapper)
    watcher = RemotingService(url, class_def_mapper=mapper)
    watcher.subscribe(TOPIC)
    book = RemotingService(url, class_def_mapper=mapper)

    def call(operation, *call_args):
        return book.remote_call(SERVICE, operation, *call_args)

    users = call("loadAll", USER)
    for user in users:
        print("loaded:", describe(user))
    ann = users[0]
    phones = call("loadAttr", USER, ann.sa_key, "phone_numbers")
    print("phone numbers of", ann.first_name + ":", ", ".join(p.number for p in phones))

    ann.first_name = "Anna"
    ann.emails[0].email = "anna@work.example"
    del ann.emails[1]
    ann.emails.append(Email(label="other", email="anna@other.example"))
    saved = call("save", ann)
    print("saved:", describe(saved))
    phones = call("loadAttr", USER, saved.sa_key, "phone_numbers")
    print("phone numbers kept:", ", ".join(p.number for p in phones))

    new = call("save", User(first_name="Cy", last_name="New",
                            emails=[Email(label="home", email="cy@new.example")]))
    print("created:", new.first_name, new.last_name, "with key", new.sa_key)
    call("remove", USER, new.sa_key)
    try:
        call("load", USER, new.sa_key)
    except RemotingFault as fault:
        print("after remove:", fault)

    changes: list = []
    deadline = time.monotonic() + 10
    while len(changes) < 3 and time.monotonic() < deadline:
        changes += [message.body for message in watcher.poll()]
        time.sleep(0.05)
    for change in changes:
        print(f"told: user {change['id']} {change['change']}")
    watcher.disconnect()
    book.disconnect()


if __name__ == "__main__":
    main()
