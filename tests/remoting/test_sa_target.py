"""SaCallableTarget over HTTP: a session per call, committed, rolled back, closed.

A SQLite file database; the server runs under each server kind, and the client is
amfast.remoting.client (RemoteObject and NetConnection calls).
"""
from __future__ import annotations

import pytest
from sqlalchemy import ForeignKey, String, create_engine, func, select
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, mapped_column, relationship,
                            sessionmaker)

from amfast import remoting
from amfast.class_def import ClassDefMapper
from amfast.class_def.sa_class_def import map_classes
from amfast.remoting.client import RemotingFault, RemotingService
from amfast.remoting.sa_target import SaCallableTarget


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    books: Mapped[list["Book"]] = relationship(back_populates="author", lazy="selectin")
    prizes: Mapped[list["Prize"]] = relationship()


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class Prize(Base):
    __tablename__ = "prizes"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))


class TrackingSession(Session):
    """Remembers every session and whether it was closed."""

    opened: list = []

    def __init__(self, *args, **kwargs):
        Session.__init__(self, *args, **kwargs)
        self.closed = False
        self.opened.append(self)

    def close(self) -> None:
        self.closed = True
        Session.close(self)


class Library:
    """The controller: each method gets the call's session first."""

    def add(self, session, name, titles):
        author = Author(name=name, books=[Book(title=t) for t in titles])
        session.add(author)
        session.flush()
        return author

    def addThenFail(self, session, name):
        session.add(Author(name=name))
        session.flush()
        raise ValueError(f"refused {name}")

    def count(self, session):
        return session.scalar(select(func.count()).select_from(Author))


def aliases(cls: type) -> str:
    return f"lib.{cls.__name__}"


@pytest.fixture
def library(tmp_path, transport, serve_app):
    engine = create_engine(f"sqlite:///{tmp_path / 'library.db'}")
    Base.metadata.create_all(engine)
    TrackingSession.opened = []
    factory = sessionmaker(engine, class_=TrackingSession)
    channel_set = transport.ChannelSet()
    channel_set.mapChannel(transport.Channel("amf"))
    for channel in channel_set:  # the endpoint's encoder and decoder share its mapper
        map_classes(channel.endpoint.encoder.class_def_mapper, Base, aliases)
    service = remoting.Service("Library")
    SaCallableTarget.mapObject(service, Library(), session_factory=factory)
    channel_set.service_mapper.mapService(service)
    server = serve_app(channel_set)
    mapper = ClassDefMapper()
    map_classes(mapper, Base, aliases)
    client = RemotingService(server.url("/amf"), class_def_mapper=mapper)
    yield client, engine
    client.close()
    engine.dispose()


def test_a_successful_call_is_committed_and_its_result_sent_as_loaded(library):
    client, engine = library
    author = client.remote_call("Library", "add", "ann", ["one", "two"])
    assert isinstance(author, Author) and author.name == "ann"
    assert [b.title for b in author.books] == ["one", "two"]
    assert author.sa_key == [author.id]
    assert "prizes" not in author.__dict__, "never loaded, so in sa_lazy"
    with Session(engine) as session:
        assert session.get(Author, author.id).name == "ann"
    assert all(s.closed for s in TrackingSession.opened) and len(TrackingSession.opened) == 1


def test_a_failing_call_is_rolled_back_and_the_client_gets_the_fault(library):
    client, engine = library
    with pytest.raises(RemotingFault, match="ValueError: refused bob"):
        client.remote_call("Library", "addThenFail", "bob")
    assert client.call("Library.count") == 0, "rolled back (NetConnection call)"
    assert len(TrackingSession.opened) == 2 and all(s.closed for s in TrackingSession.opened)


def test_every_call_has_its_own_session(library):
    client, _ = library
    client.remote_call("Library", "add", "a", [])
    client.remote_call("Library", "add", "b", [])
    assert client.remote_call("Library", "count") == 2
    sessions = TrackingSession.opened
    assert len({id(s) for s in sessions}) == 3 and all(s.closed for s in sessions)


def test_coroutine_callables_are_refused():
    async def handler(session):
        return None

    with pytest.raises(TypeError, match="synchronous"):
        SaCallableTarget(handler, "handler", session_factory=sessionmaker())
