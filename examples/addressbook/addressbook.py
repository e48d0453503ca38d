"""The address book: users with e-mail addresses and phone numbers, served over RemoteObject.

The model (SQLAlchemy 2): a ``User`` has ``emails`` (loaded with the user: ``selectin``)
and ``phone_numbers`` (lazy: loaded when asked for).  The classes travel as the typed
objects ``addressbook.User``, ``addressbook.Email`` and ``addressbook.PhoneNumber``
(``SaClassDef``: ``sa_key``, ``sa_lazy``, then the attributes).

The RemoteObject destination ``AddressBook`` speaks AmFast's SaObject protocol; every
operation runs in a session of its own (``SaCallableTarget``):

    loadAll(alias)                 every object of a class, e.g. loadAll("addressbook.User")
    load(alias, sa_key)            one object
    loadAttr(alias, sa_key, attr)  one attribute, e.g. the lazy "phone_numbers"
    save(obj)                      insert (no key) or update (merge); returns the saved object
    saveList(objs)                 several at once
    remove(alias, sa_key)          delete

After every commit that changed users, a message per changed user goes to the messaging
destination ``addressbook``: ``{"change": "saved" or "removed", "id": <the user's id>}``.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import ForeignKey, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from amfast import remoting
from amfast.class_def import ClassDefMapper
from amfast.class_def.sa_class_def import SaClassDef, map_classes
from amfast.remoting.sa_target import SaCallableTarget

SERVICE = "AddressBook"
TOPIC = "addressbook"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    emails: Mapped[list["Email"]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan",
        order_by="Email.id")
    phone_numbers: Mapped[list["PhoneNumber"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="PhoneNumber.id")


class Email(Base):
    __tablename__ = "emails"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(120))
    user: Mapped[User] = relationship(back_populates="emails")


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(40))
    user: Mapped[User] = relationship(back_populates="phone_numbers")


def alias_of(cls: type) -> str:
    return f"addressbook.{cls.__name__}"


def map_address_book(class_def_mapper: ClassDefMapper) -> list[SaClassDef]:
    """Map the address book's classes; the server's and the clients' mappers alike."""
    return map_classes(class_def_mapper, Base, alias_of)


class AddressBookError(Exception):
    """A request the address book refuses (its message goes to the client as the fault)."""


class AddressBook:
    """The ``AddressBook`` destination's operations; each gets the call's session first."""

    def __init__(self, class_def_mapper: ClassDefMapper):
        self.class_def_mapper = class_def_mapper

    def _class_def(self, alias: Any) -> SaClassDef:
        class_def = self.class_def_mapper.getClassDefByAlias(alias) if isinstance(
            alias, str) else None
        if not isinstance(class_def, SaClassDef) or not issubclass(class_def.class_, Base):
            raise AddressBookError(f"no address book class {alias!r}")
        return class_def

    def _get(self, session, alias: Any, key: Any) -> Any:
        class_def = self._class_def(alias)
        size = len(class_def.mapper.primary_key)
        if not isinstance(key, (list, tuple)) or len(key) != size:
            raise AddressBookError(f"{alias}: a key is a list of {size} value(s), "
                                   f"not {key!r:.50}")
        found = session.get(class_def.class_, tuple(key))
        if found is None:
            raise AddressBookError(f"{alias} {list(key)} does not exist")
        return found

    def loadAll(self, session, alias: str) -> list:
        cls = self._class_def(alias).class_
        return list(session.scalars(select(cls).order_by(*cls.__mapper__.primary_key)))

    def load(self, session, alias: str, key: list) -> Any:
        return self._get(session, alias, key)

    def loadAttr(self, session, alias: str, key: list, attr: str) -> Any:
        if attr not in self._class_def(alias).mapped_attrs:
            raise AddressBookError(f"{alias} has no attribute {attr!r}")
        return getattr(self._get(session, alias, key), attr)

    def save(self, session, obj: Any) -> Any:
        if not isinstance(obj, Base):
            raise AddressBookError(f"cannot save a {type(obj).__name__}")
        saved = session.merge(obj)
        session.flush()
        return saved

    def saveList(self, session, objs: list) -> list:
        return [self.save(session, obj) for obj in objs]

    def remove(self, session, alias: str, key: list) -> bool:
        session.delete(self._get(session, alias, key))
        return True


def _user_id(obj: Any) -> int | None:
    return obj.id if isinstance(obj, User) else obj.user_id


def changed_users(session) -> dict[int, str]:
    """User id -> "saved" or "removed", for what the flush that just ran wrote."""
    changes: dict[int, str] = {}
    modified = [obj for obj in session.dirty if session.is_modified(obj)]
    for obj in list(session.new) + modified + list(session.deleted):
        user_id = _user_id(obj)
        if user_id is not None:
            changes.setdefault(user_id, "saved")
    for obj in session.deleted:
        if isinstance(obj, User):
            changes[obj.id] = "removed"
    return changes


def publish_changes(session_factory: sessionmaker, publish: Callable[[dict], None]) -> None:
    """After each commit, ``publish`` one message per user the session changed."""

    @event.listens_for(session_factory, "after_flush")
    def collect(session, flush_context):
        changes = session.info.setdefault("changes", {})
        for user_id, change in changed_users(session).items():
            if changes.get(user_id) != "removed":
                changes[user_id] = change

    @event.listens_for(session_factory, "after_commit")
    def send(session):
        for user_id, change in sorted(session.info.pop("changes", {}).items()):
            publish({"change": change, "id": user_id})

    @event.listens_for(session_factory, "after_rollback")
    def forget(session):
        session.info.pop("changes", None)


def seed(session_factory: sessionmaker) -> None:
    """Two users, when the database has none."""
    with session_factory() as session, session.begin():
        if session.scalar(select(User.id).limit(1)) is not None:
            return
        session.add_all([
            User(first_name="Ann", last_name="Lee",
                 emails=[Email(label="work", email="ann@work.example"),
                         Email(label="home", email="ann@home.example")],
                 phone_numbers=[PhoneNumber(label="mobile", number="555-0101"),
                                PhoneNumber(label="office", number="555-0102")]),
            User(first_name="Bob", last_name="Ray",
                 emails=[Email(label="home", email="bob@home.example")],
                 phone_numbers=[PhoneNumber(label="mobile", number="555-0201")]),
        ])


def add_address_book(channel_set: Any, url: str = "sqlite:///addressbook.db") -> Engine:
    """Serve the address book from ``channel_set``: its classes mapped on every channel,
    the ``AddressBook`` destination, change messages to ``addressbook``.  The tables are
    created (and seeded) when missing.  Returns the engine (dispose of it when done)."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    session_factory = sessionmaker(engine)
    seed(session_factory)
    publish_changes(session_factory, lambda body: channel_set.publishObject(body, TOPIC))
    for channel in channel_set:  # each endpoint's encoder and decoder share its mapper
        map_address_book(channel.endpoint.encoder.class_def_mapper)
    classes = ClassDefMapper()
    map_address_book(classes)
    service = remoting.Service(SERVICE)
    SaCallableTarget.mapObject(service, AddressBook(classes), session_factory=session_factory)
    channel_set.service_mapper.mapService(service)
    return engine
