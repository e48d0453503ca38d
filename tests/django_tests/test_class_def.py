"""DjangoClassDef: model instances on the wire and back, with no query while encoding."""
from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from django.contrib.auth.models import User

from amfast.class_def import ClassDefError, ClassDefMapper
from amfast.class_def.as_types import TypedObject
from amfast.class_def.django_class_def import DjangoClassDef, DjangoDef, map_models
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.ext.decoder import ClassMappingError
from tests.django_tests.testapp.models import Author, Book, Cover, Loan, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapper():
    mapper = ClassDefMapper()
    map_models(mapper, "testapp", aliases=lambda model: "test." + model.__name__)
    return mapper


def plain_decoder():
    """The client's side: typed objects, not models."""
    return Decoder(amf3=True)


def roundtrip(value, mapper, **options):
    return plain_decoder().decode(Encoder(amf3=True, class_def_mapper=mapper,
                                          **options).encode(value))


@pytest.fixture
def books():
    ann = Author.objects.create(name="Ann")
    red, blue = Tag.objects.create(label="red"), Tag.objects.create(label="blue")
    made = []
    for n in range(3):
        book = Book.objects.create(title=f"b{n}", author=ann, price=decimal.Decimal("1.50"))
        book.tags.set([red, blue])
        made.append(book)
    Cover.objects.create(book=made[0], color="green")
    return made


def test_fields_and_loaded_foreign_key(mapper, books, django_assert_num_queries):
    book = Book.objects.select_related("author").get(pk=books[0].pk)
    with django_assert_num_queries(0):
        sent = roundtrip(book, mapper)
    assert isinstance(sent, TypedObject) and sent.alias == "test.Book"
    assert sent["title"] == "b0" and sent["price"] == 1.5
    assert sent["ref"] == str(book.ref)
    assert sent["author_id"] == books[0].author_id
    assert sent["author"]["name"] == "Ann" and sent["author"].alias == "test.Author"
    assert sent["tags"] is None and sent["cover"] is None  # not loaded: null, no query
    assert sent["secret"] == ""


def test_no_query_per_attribute_for_a_queryset(mapper, books, django_assert_num_queries):
    query = Book.objects.all()
    with django_assert_num_queries(1):  # the QuerySet's own, nothing per book
        sent = roundtrip(query, mapper)
    assert [b["title"] for b in sent] == ["b0", "b1", "b2"]
    assert all(b["author"] is None and b["author_id"] for b in sent)


def test_prefetched_relations_are_sent(mapper, books, django_assert_num_queries):
    query = list(Book.objects.select_related("cover").prefetch_related("tags").order_by("id"))
    with django_assert_num_queries(0):
        sent = roundtrip(query, mapper)
    assert sorted(t["label"] for t in sent[0]["tags"]) == ["blue", "red"]
    assert sent[0]["cover"]["color"] == "green"
    authors = list(Author.objects.prefetch_related("books"))
    with django_assert_num_queries(0):
        sent = roundtrip(authors, mapper)
    assert len(sent[0]["books"]) == 3


def test_queryset_as_array_collection(mapper, books):
    raw = Encoder(amf3=True, class_def_mapper=mapper, use_collections=True).encode(
        Tag.objects.order_by("label"))
    assert b"flex.messaging.io.ArrayCollection" in raw
    assert [t["label"] for t in plain_decoder().decode(raw)] == ["blue", "red"]
    # AMF0 too
    sent = Decoder().decode(Encoder(class_def_mapper=mapper).encode(Tag.objects.order_by("id")))
    assert [t["label"] for t in sent] == ["red", "blue"]


def test_decoding_gives_an_unsaved_instance_to_validate_and_save(mapper, books):
    ann = books[0].author
    sent = TypedObject("test.Book")
    sent.update(title="new", author_id=ann.pk, price=2.25, ref=str(uuid.uuid4()),
                tags=None, author=None)
    raw = Encoder(amf3=True).encode(sent)
    book = Decoder(amf3=True, class_def_mapper=mapper).decode(raw)
    assert isinstance(book, Book) and book.pk is None and book._state.adding
    assert isinstance(book.ref, uuid.UUID) and book.price == decimal.Decimal("2.25")
    book.full_clean()
    book.save()
    assert Book.objects.get(pk=book.pk).title == "new"
    # A loaded object comes back, changed: saving updates its row.
    loaded = Book.objects.select_related("author").get(pk=books[1].pk)
    sent = roundtrip(loaded, mapper)
    sent["title"] = "changed"
    sent["price"] = 1.1  # a double with no exact binary form
    sent["published"] = datetime.datetime(2026, 5, 1, 12, 30)  # AMF dates are UTC
    back = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))
    assert back.pk == loaded.pk and not back._state.adding and back.author.name == "Ann"
    back.full_clean()
    back.save()
    assert Book.objects.get(pk=loaded.pk).title == "changed"
    saved = Book.objects.get(pk=loaded.pk)
    assert saved.price == decimal.Decimal("1.10")
    assert saved.published == datetime.datetime(2026, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    assert Book.objects.count() == 4


def test_invalid_values_fail_validation_or_decoding(mapper, books):
    sent = TypedObject("test.Book")
    sent.update(title="x" * 300, author_id=books[0].author_id)
    book = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))
    from django.core.exceptions import ValidationError
    with pytest.raises(ValidationError):
        book.full_clean()
    sent.update(title="ok", author="not an author")
    with pytest.raises(ClassMappingError):
        Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))
    sent.update(author=None, ref="not a uuid")
    with pytest.raises(ClassMappingError):
        Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))


def test_many_to_many_is_kept_for_after_save(mapper, books):
    sent = roundtrip(Book.objects.prefetch_related("tags").get(pk=books[0].pk), mapper)
    back = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))
    assert sorted(t.label for t in back.amf_relations["tags"]) == ["blue", "red"]


def test_exclude_and_foreign_keys_as_ids(books):
    mapper = ClassDefMapper()
    mapper.mapClass(DjangoClassDef(Book, "B", exclude=("secret", "tags"), foreign_keys="ids",
                                   static_attrs=("shout",)))
    sent = roundtrip(Book.objects.select_related("author").get(pk=books[0].pk), mapper)
    assert "secret" not in sent and "tags" not in sent and "author" not in sent
    assert sent["author_id"] and sent["shout"] == "B0"
    with pytest.raises(ClassDefError):
        DjangoClassDef(TypedObject)
    assert DjangoDef is DjangoClassDef


def test_user_password_hash_only_when_asked(django_user_model):
    user = django_user_model.objects.create_user("ann", password="pw")
    mapper = ClassDefMapper()
    mapper.mapClass(DjangoClassDef(User, "User"))
    sent = roundtrip(user, mapper)
    assert "password" not in sent and sent["username"] == "ann"
    assert not any("pbkdf2" in str(v) or "md5" in str(v) for v in sent.values())
    mapper.mapClass(DjangoClassDef(User, "User", include=("password",)))
    assert roundtrip(user, mapper)["password"] == user.password
    # A client cannot set it either.
    sent = TypedObject("User")
    sent.update(username="eve", password="md5$x$y")
    mapper.mapClass(DjangoClassDef(User, "User"))
    decoded = Decoder(amf3=True, class_def_mapper=mapper).decode(Encoder(amf3=True).encode(sent))
    assert decoded.password == ""


def test_map_models_maps_the_models_of_other_apps_it_relates_to(mapper, books,
                                                                django_user_model):
    """A loan's borrower (``auth.User``) goes out mapped: no password hash."""
    user = django_user_model.objects.create_user("ann", password="pw")
    Loan.objects.create(book=books[0], borrower=user)
    assert isinstance(mapper.getClassDefByClass(User), DjangoClassDef)
    loan = roundtrip(Loan.objects.select_related("borrower").get(), mapper)
    assert loan.alias == "test.Loan" and loan["borrower"].alias == "test.User"
    assert loan["borrower"]["username"] == "ann" and "password" not in loan["borrower"]
    # A mapping of its own replaces it, alias included.
    mapper.mapClass(DjangoClassDef(User, "auth.User", exclude=["groups"]))
    assert mapper.getClassDefByAlias("test.User") is None


def test_one_row_is_one_object(mapper, books):
    """select_related loads the author once per book: the client gets one author."""
    sent = roundtrip(list(Book.objects.select_related("author").order_by("id")), mapper)
    assert sent[0]["author"] is sent[1]["author"] is sent[2]["author"]
    unsaved = [Author(name="x"), Author(name="x")]
    sent = roundtrip(unsaved, mapper)
    assert sent[0] is not sent[1]
