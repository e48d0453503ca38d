"""The notes app's channel sets: a RemoteObject service over the Note model for Django's
users, and a chat (Producer/Consumer on the destination "chat") over long-polling.

Under WSGI everything is a Django view (notes_site/urls.py).  Under ASGI the chat's long-poll
goes to ``messaging``, an ASGI channel set mounted in front of Django (notes_site/asgi.py).
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from amfast.class_def import ClassDefMapper
from amfast.class_def.django_class_def import DjangoClassDef, map_models
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Service
from amfast.remoting.asgi_channel import AsgiChannel, AsgiChannelSet
from amfast.remoting.channel import SecurityError
from amfast.remoting.django_auth import (DjangoAuthMixin, DjangoExtCallableTarget, django_user,
                                         permission_required)
from amfast.remoting.django_channel import DjangoChannel
from amfast.remoting.endpoint import AmfEndpoint
from amfast.remoting.wsgi_channel import WsgiChannelSet
from notes.models import Note

ALIAS_PREFIX = "notes."

class_def_mapper = ClassDefMapper()
map_models(class_def_mapper, "notes", aliases=lambda model: ALIAS_PREFIX + model.__name__)
# The notes' authors travel too: without the password hash (never sent unless asked), and
# without their groups and permissions.
class_def_mapper.mapClass(DjangoClassDef(get_user_model(), ALIAS_PREFIX + "User",
                                         relations=False,
                                         exclude=("groups", "user_permissions")))


def endpoint() -> AmfEndpoint:
    return AmfEndpoint(Encoder(class_def_mapper=class_def_mapper),
                       Decoder(class_def_mapper=class_def_mapper))


class ChannelSet(DjangoAuthMixin, WsgiChannelSet):
    """Flex logins and Credentials are Django's users."""


channel_set = ChannelSet(max_held=8)
rpc = DjangoChannel("amf", endpoint=endpoint())
long_poll = DjangoChannel("longpoll", endpoint=endpoint(), wait_interval=30000)
channel_set.mapChannel(rpc)
channel_set.mapChannel(long_poll)

messaging = AsgiChannelSet()
messaging.mapChannel(AsgiChannel("longpoll", endpoint=endpoint(), wait_interval=30000))


# -- the RemoteObject service "NoteService" ------------------------------------------------


def whoami(packet, msg):
    """The Django user's name ('' when nobody logged in)."""
    return django_user(packet, msg).get_username()


def list_notes(packet, msg):
    """Every note, newest first, with its author (one query)."""
    return Note.objects.select_related("author").order_by("-updated", "-id")


def load(packet, msg, note_id):
    return Note.objects.select_related("author").filter(pk=note_id).first()


@permission_required("notes.change_note")
def save(packet, msg, note):
    """Validate and save a note a client sent (a new one belongs to the caller, an old one
    keeps its author, whatever the client sent); its id."""
    user = django_user(packet, msg)
    if not isinstance(note, Note):
        raise ValidationError("a notes.Note is expected")
    if note.pk is None:
        note.author = user
    else:
        author_id = Note.objects.filter(pk=note.pk).values_list("author_id", flat=True).first()
        if author_id is None:
            raise ValidationError("No such note.")
        if author_id != user.pk and not user.is_superuser:
            raise SecurityError("Only its author may change a note.")
        note.author_id = author_id
    note.full_clean()
    note.save()
    return note.pk


service = Service("NoteService")
for name, func in (("whoami", whoami), ("list", list_notes), ("load", load), ("save", save)):
    service.mapTarget(DjangoExtCallableTarget(func, name, secure=name != "whoami"))
channel_set.service_mapper.mapService(service)
