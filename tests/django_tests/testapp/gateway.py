"""The test app's channel set: Django's users, the book service, RPC, long-poll, stream."""
from amfast.class_def import ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.class_def.django_class_def import map_models
from amfast.remoting import Service
from amfast.remoting.django_auth import (DjangoAuthMixin, DjangoCallableTarget,
                                         DjangoExtCallableTarget, django_user, group_required,
                                         permission_required)
from amfast.remoting.django_channel import (DjangoChannel, StreamingDjangoChannel,
                                            django_request)
from amfast.remoting.endpoint import AmfEndpoint
from amfast.remoting.wsgi_channel import WsgiChannelSet

from tests.django_tests.testapp.models import Author, Book

class_def_mapper = ClassDefMapper()
map_models(class_def_mapper, "testapp", aliases=lambda model: "test." + model.__name__)


class ChannelSet(DjangoAuthMixin, WsgiChannelSet):
    pass


def endpoint():
    return AmfEndpoint(Encoder(class_def_mapper=class_def_mapper),
                       Decoder(class_def_mapper=class_def_mapper))


channel_set = ChannelSet(max_held=4)
rpc = DjangoChannel("amf", endpoint=endpoint())
long_poll = DjangoChannel("poll", endpoint=endpoint(), wait_interval=2000, poll_interval=100)
stream = StreamingDjangoChannel("stream", endpoint=endpoint(), heart_interval=1000)
for channel in (rpc, long_poll, stream):
    channel_set.mapChannel(channel)


def books():
    return Book.objects.select_related("author").order_by("id")


def whoami(packet, msg):
    request = django_request(packet)
    same = request is packet._django_request
    return {"user": django_user(packet, msg).get_username(), "same": same,
            "session": request is not None and hasattr(request, "session")}


@permission_required("testapp.change_book")
def save_book(book):
    book.full_clean()
    book.save()
    return book.pk


@group_required("editors")
def editors_only():
    return "editor"


def echo(value):
    return value


service = Service("books")
service.mapTarget(DjangoCallableTarget(books, "books"))
service.mapTarget(DjangoExtCallableTarget(whoami, "whoami"))
service.mapTarget(DjangoCallableTarget(save_book, "save"))
service.mapTarget(DjangoCallableTarget(editors_only, "editors"))
service.mapTarget(DjangoCallableTarget(echo, "secure_echo", secure=True))
service.mapTarget(DjangoCallableTarget(Author.objects.count, "count_authors"))
channel_set.service_mapper.mapService(service)
