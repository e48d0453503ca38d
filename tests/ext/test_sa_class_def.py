"""SaClassDef: SQLAlchemy 2 mapped classes on the wire, and back into a merge-able instance.

Real SQLite databases in memory; py3amf reads what amfast writes.  Every test counts the
SQL statements an encoding issues: none, whatever is loaded or not.
"""
from __future__ import annotations

import subprocess
import sys

import pyamf
import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, create_engine, event, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, mapped_column, registry,
                            relationship, selectinload)

from amfast.class_def import ClassDef, ClassDefError, ClassDefMapper
from amfast.class_def.as_types import TypedObject
from amfast.class_def.sa_class_def import SaClassDef, map_classes
from amfast.decoder import ClassMappingError, Decoder
from amfast.encoder import Encoder


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    first: Mapped[str] = mapped_column(String(40))
    last: Mapped[str] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(deferred=True)
    emails: Mapped[list["Email"]] = relationship(back_populates="user", lazy="selectin",
                                                 cascade="all, delete-orphan",
                                                 order_by="Email.id")
    phones: Mapped[list["Phone"]] = relationship(back_populates="user",
                                                 cascade="all, delete-orphan",
                                                 order_by="Phone.id")

    @hybrid_property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @hybrid_property
    def display(self) -> str:
        return self.first.upper()

    @display.setter
    def display(self, value: str) -> None:
        self.first = value.title()


class Email(Base):
    __tablename__ = "emails"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="emails")


class Phone(Base):
    __tablename__ = "phones"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="phones")


class Pair(Base):
    """A composite primary key."""

    __tablename__ = "pairs"
    left: Mapped[int] = mapped_column(primary_key=True)
    right: Mapped[str] = mapped_column(String(10), primary_key=True)
    label: Mapped[str] = mapped_column(String(10))


ALIASES = {User: "ab.User", Email: "ab.Email", Phone: "ab.Phone", Pair: "ab.Pair"}


@pytest.fixture
def engine():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(id=1, first="ann", last="lee", notes="long text",
                         emails=[Email(address="ann@a.example"), Email(address="ann@b.example")],
                         phones=[Phone(number="555-1"), Phone(number="555-2")]))
        session.add(Pair(left=1, right="a", label="one-a"))
        session.commit()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    engine.statements = statements
    yield engine
    engine.dispose()


@pytest.fixture
def mapper():
    mapper = ClassDefMapper()
    map_classes(mapper, Base, ALIASES, static_attrs={User: ["full_name"]})
    return mapper


def encode(mapper, value, **options) -> bytes:
    return Encoder(amf3=True, class_def_mapper=mapper, **options).encode(value)


def as_typed(raw: bytes) -> TypedObject:
    """What a client without the classes reads: aliases and sealed names kept."""
    return Decoder(amf3=True).decode(raw)


def load_user(session) -> User:
    return session.get(User, 1)


# ----------------------------------------------------------------- encoding


def test_sealed_members_are_sa_key_sa_lazy_columns_relationships_then_extras(engine, mapper):
    with Session(engine) as session:
        user = load_user(session)
        typed = as_typed(encode(mapper, user))
    assert typed.alias == "ab.User"
    assert typed.static_attrs == ("sa_key", "sa_lazy", "id", "first", "last", "notes",
                                  "emails", "phones", "full_name")
    assert not typed.dynamic


def test_loaded_relation_goes_as_typed_objects_and_the_lazy_one_as_null(engine, mapper):
    with Session(engine) as session:
        user = load_user(session)  # emails: selectin (loaded); phones: lazy; notes: deferred
        before = len(engine.statements)
        typed = as_typed(encode(mapper, user))
        assert len(engine.statements) == before, "encoding ran SQL"
    assert typed["sa_key"] == [1]
    assert typed["sa_lazy"] == ["notes", "phones"]
    assert typed["phones"] is None and typed["notes"] is None
    assert (typed["first"], typed["full_name"]) == ("ann", "ann lee")
    assert [e.alias for e in typed["emails"]] == ["ab.Email", "ab.Email"]
    assert [e["address"] for e in typed["emails"]] == ["ann@a.example", "ann@b.example"]
    # Each email's many-to-one back to the user was never loaded.
    assert typed["emails"][0]["sa_lazy"] == ["user"] and typed["emails"][0]["user"] is None
    assert typed["emails"][0]["sa_key"] == [1]


def test_py3amf_reads_the_objects(engine, mapper):
    with Session(engine) as session:
        raw = encode(mapper, load_user(session))
    user = next(pyamf.decode(raw, encoding=pyamf.AMF3))
    assert user.alias == "ab.User"
    assert user["sa_key"] == [1] and user["sa_lazy"] == ["notes", "phones"]
    assert [e["address"] for e in user["emails"]] == ["ann@a.example", "ann@b.example"]


def test_detached_and_expired_instances_encode_without_loading_or_raising(engine, mapper):
    with Session(engine) as session:
        user = load_user(session)
        session.expire(user, ["last"])
    # Detached: reading an unloaded attribute would raise DetachedInstanceError.
    before = len(engine.statements)
    typed = as_typed(encode(mapper, user))
    assert len(engine.statements) == before
    assert typed["sa_lazy"] == ["last", "notes", "phones", "full_name"]
    assert typed["first"] == "ann" and typed["last"] is None
    assert typed["full_name"] is None, "a property that needs what is not loaded is lazy"


def test_after_a_commit_that_expires_everything_only_the_key_is_known(engine, mapper):
    with Session(engine) as session:
        user = load_user(session)
        session.commit()
        typed = as_typed(encode(mapper, user))
    assert typed["sa_key"] == [1]
    assert typed["sa_lazy"] == ["id", "first", "last", "notes", "emails", "phones"]


def test_relations_loaded_on_purpose_are_sent(engine, mapper):
    with Session(engine) as session:
        user = session.scalars(select(User).options(selectinload(User.phones))).one()
        typed = as_typed(encode(mapper, user))
    assert typed["sa_lazy"] == ["notes"]
    assert [p["number"] for p in typed["phones"]] == ["555-1", "555-2"]


def test_use_collections_wraps_relations_but_not_sa_key_and_sa_lazy(engine, mapper):
    with Session(engine) as session:
        raw = encode(mapper, load_user(session), use_collections=True)
    user = next(pyamf.decode(raw, encoding=pyamf.AMF3))
    from pyamf.flex import ArrayCollection

    assert isinstance(user["emails"], ArrayCollection)
    assert type(user["sa_key"]) is list and type(user["sa_lazy"]) is list
    typed = as_typed(raw)  # amfast unwraps collections: the same values
    assert [e["address"] for e in typed["emails"]] == ["ann@a.example", "ann@b.example"]


def test_transient_and_composite_keys(engine, mapper):
    new = User(first="bob", last="ray")
    typed = as_typed(encode(mapper, new))
    assert typed["sa_key"] == [None]
    assert "id" in typed["sa_lazy"] and "emails" in typed["sa_lazy"]
    with Session(engine) as session:
        typed = as_typed(encode(mapper, session.get(Pair, (1, "a"))))
    assert typed["sa_key"] == [1, "a"] and typed["label"] == "one-a"


def test_shared_objects_are_sent_once(engine, mapper):
    with Session(engine) as session:
        user = load_user(session)
        raw = encode(mapper, [user, user.emails[0], user])
    decoded = Decoder(amf3=True, class_def_mapper=mapper).decode(raw)
    assert decoded[0] is decoded[2] and decoded[1] is decoded[0].emails[0]


# ----------------------------------------------------------------- decoding and merging


def round_trip(mapper, value):
    return Decoder(amf3=True, class_def_mapper=mapper).decode(encode(mapper, value))


def test_decoding_gives_a_transient_instance_without_the_lazy_attributes(engine, mapper):
    with Session(engine) as session:
        user = round_trip(mapper, load_user(session))
    from sqlalchemy import inspect

    assert isinstance(user, User) and inspect(user).transient
    assert user.sa_key == [1]
    assert (user.id, user.first, user.last) == (1, "ann", "lee")
    for name in ("phones", "notes"):
        assert name not in user.__dict__, f"{name} is in sa_lazy: it must stay unset"
    assert [e.address for e in user.emails] == ["ann@a.example", "ann@b.example"]
    assert "user" not in user.emails[0].__dict__
    assert not inspect(user).modified, "decoded values are loaded state, not changes"


def test_merge_applies_edits_and_leaves_lazy_relations_alone(engine, mapper):
    with Session(engine) as session:
        user = round_trip(mapper, load_user(session))
    user.first = "anne"
    user.emails[0].address = "anne@a.example"
    del user.emails[1]
    user.emails.append(Email(address="anne@c.example"))
    with Session(engine) as session:
        session.merge(user)
        session.commit()
    with Session(engine) as session:
        saved = load_user(session)
        assert (saved.first, saved.notes) == ("anne", "long text")
        assert [e.address for e in saved.emails] == ["anne@a.example", "anne@c.example"]
        assert [p.number for p in saved.phones] == ["555-1", "555-2"], "phones were lazy"


def test_a_backref_does_not_fill_a_relation_the_client_did_not_send(engine, mapper):
    """An email whose ``user`` is sent, while the user's ``emails`` are in sa_lazy: the
    user's emails must stay unset, or a merge would replace them with that one email."""
    with Session(engine) as session:
        user = session.get(User, 1, options=[selectinload(User.phones)])
        session.expire(user, ["emails"])
        phone = user.phones[0]
        phone.user  # loaded from the identity map
        decoded_phone, decoded_user = round_trip(mapper, [phone, user])
    assert decoded_phone.user is decoded_user
    assert "emails" not in decoded_user.__dict__
    assert len(decoded_user.phones) == 2, "exactly what was sent, no backref duplicates"
    with Session(engine) as session:
        session.merge(decoded_user)
        session.commit()
        assert len(load_user(session).emails) == 2


def test_new_objects_from_the_client_are_inserted_by_merge(engine, mapper):
    new = TypedObject("ab.User", ("sa_key", "sa_lazy", "id", "first", "last", "emails"), False,
                      {"sa_key": None, "sa_lazy": None, "id": None, "first": "cy",
                       "last": "new", "emails": [TypedObject(
                           "ab.Email", ("sa_key", "sa_lazy", "id", "address"), False,
                           {"sa_key": None, "sa_lazy": None, "id": None,
                            "address": "cy@example"})]})
    user = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(new))
    assert isinstance(user, User) and "phones" not in user.__dict__
    with Session(engine) as session:
        merged = session.merge(user)
        session.commit()
        assert merged.id == 2 and [e.address for e in merged.emails] == ["cy@example"]
        assert merged.emails[0].user_id == 2


def test_hybrid_with_a_setter_is_applied_and_a_read_only_one_ignored(engine):
    mapper = ClassDefMapper()
    map_classes(mapper, Base, ALIASES, static_attrs={User: ["full_name", "display"]})
    with Session(engine) as session:
        raw = encode(mapper, load_user(session))
    typed = as_typed(raw)
    assert typed["display"] == "ANN"
    typed["display"] = "DORA"
    typed["full_name"] = "ignored value"
    user = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(typed))
    assert user.first == "Dora" and user.full_name == "Dora lee"


def test_members_the_class_def_does_not_list_are_ignored(engine, mapper):
    hostile = TypedObject("ab.Email", ("_sa_instance_state", "address", "sa_key", "nope"),
                          False, {"_sa_instance_state": {"x": 1}, "address": "a@b",
                                  "sa_key": [5], "nope": 1})
    email = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(hostile))
    assert isinstance(email, Email) and email.address == "a@b" and not hasattr(email, "nope")
    with Session(engine) as session:
        assert session.merge(email).address == "a@b"


@pytest.mark.parametrize("members, message", [
    ({"sa_lazy": "phones"}, "sa_lazy must be a list"),
    ({"sa_lazy": [1]}, "sa_lazy must be a list"),
    ({"emails": "nope"}, "ab.User.emails must be a list of Email"),
    ({"emails": [{"address": "x"}]}, "ab.User.emails must be a list of Email"),
    ({"emails": 3}, "ab.User.emails must be a list of Email"),
])
def test_bad_members_are_a_class_mapping_error(mapper, members, message):
    raw = Encoder(amf3=True).encode(TypedObject("ab.User", tuple(members), False, members))
    with pytest.raises(ClassMappingError, match=message):
        Decoder(amf3=True, class_def_mapper=mapper).decode(raw)


def test_a_scalar_relation_must_be_its_class_or_null(mapper):
    ok = Encoder(amf3=True).encode(TypedObject("ab.Email", ("user",), False, {"user": None}))
    assert Decoder(amf3=True, class_def_mapper=mapper).decode(ok).user is None
    bad = Encoder(amf3=True).encode(TypedObject("ab.Email", ("user",), False, {"user": "x"}))
    with pytest.raises(ClassMappingError, match="ab.Email.user must be a User or null"):
        Decoder(amf3=True, class_def_mapper=mapper).decode(bad)


# ----------------------------------------------------------------- mapping


def test_map_classes_takes_a_registry_and_imperative_mappings():
    reg = registry()
    table = Table("things", reg.metadata, Column("id", Integer, primary_key=True),
                  Column("name", String(20)))

    class Thing:
        pass

    reg.map_imperatively(Thing, table)
    mapper = ClassDefMapper()
    [class_def] = map_classes(mapper, reg, lambda cls: f"com.example.{cls.__name__}")
    assert class_def.alias == "com.example.Thing"
    assert mapper.getClassDefByClass(Thing) is class_def
    assert mapper.getClassDefByAlias("com.example.Thing") is class_def
    thing = Thing()
    thing.id, thing.name = 3, "x"
    typed = as_typed(encode(mapper, thing))
    assert typed.static_attrs == ("sa_key", "sa_lazy", "id", "name")
    assert (typed["sa_key"], typed["name"]) == ([3], "x")


def test_map_classes_default_aliases_and_order():
    mapper = ClassDefMapper()
    class_defs = map_classes(mapper, Base, {User: "ab.User"})
    assert [d.class_ for d in class_defs] == [Email, Pair, Phone, User]
    assert class_defs[0].alias == f"{__name__}.Email" and class_defs[3].alias == "ab.User"


def test_inheritance_gives_each_class_its_own_attributes():
    class Root(DeclarativeBase):
        pass

    class Animal(Root):
        __tablename__ = "animals"
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(10))
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "animal"}

    class Dog(Animal):
        __tablename__ = "dogs"
        id: Mapped[int] = mapped_column(ForeignKey("animals.id"), primary_key=True)
        bark: Mapped[str] = mapped_column(String(10))
        __mapper_args__ = {"polymorphic_identity": "dog"}

    mapper = ClassDefMapper()
    map_classes(mapper, Root, {Animal: "zoo.Animal", Dog: "zoo.Dog"})
    dog = Dog(id=1, bark="woof")
    back = round_trip(mapper, dog)
    assert type(back) is Dog and back.bark == "woof"
    assert as_typed(encode(mapper, dog)).alias == "zoo.Dog"


@pytest.mark.parametrize("bad", [
    lambda: SaClassDef(type("Plain", (), {})),
    lambda: SaClassDef(User, static_attrs=["first"]),
    lambda: SaClassDef(User, static_attrs=["sa_key"]),
    lambda: SaClassDef(User, static_attrs=["full_name", "full_name"]),
    lambda: map_classes(ClassDefMapper(), object()),
])
def test_misuse_is_a_class_def_error(bad):
    with pytest.raises(ClassDefError):
        bad()


def test_a_plain_class_def_is_still_possible_for_a_mapped_class(engine):
    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Phone, "ab.Phone", ("number",)))
    with Session(engine) as session:
        typed = as_typed(encode(mapper, session.get(Phone, 1)))
    assert typed.static_attrs == ("number",)


def test_the_codec_does_not_import_sqlalchemy():
    code = ("import sys, amfast.class_def, amfast.encoder, amfast.decoder, amfast.remoting\n"
            "print('sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "False"


def test_a_version_counter_refuses_a_stale_edit():
    """docs/sqlalchemy.md: with a version_id_col, merging an edit made on an old copy fails."""

    class Root(DeclarativeBase):
        pass

    class Note(Root):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str] = mapped_column(String(20))
        version: Mapped[int] = mapped_column(nullable=False)
        __mapper_args__ = {"version_id_col": version}

    engine = create_engine("sqlite://")
    Root.metadata.create_all(engine)
    mapper = ClassDefMapper()
    map_classes(mapper, Root, {Note: "n.Note"})
    with Session(engine) as session:
        session.add(Note(id=1, text="first"))
        session.commit()
        first_copy = round_trip(mapper, session.get(Note, 1))
        second_copy = round_trip(mapper, session.get(Note, 1))
    first_copy.text = "edited"
    with Session(engine) as session:
        session.merge(first_copy)
        session.commit()
    second_copy.text = "edited too"
    from sqlalchemy.orm.exc import StaleDataError

    with Session(engine) as session, pytest.raises(StaleDataError):
        session.merge(second_copy)
        session.flush()
    engine.dispose()
