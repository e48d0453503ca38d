"""ASGI: Django, with the chat's ASGI channel set mounted at /messaging in front of it, so
that held long-polls wait as awaits rather than in the thread Django's sync views share
(uvicorn notes_site.asgi:application).  Flex clients long-poll /messaging/longpoll."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes_site.settings")
django_application = get_asgi_application()  # sets Django up before the gateway is imported

from amfast.remoting.django_asgi import amf_asgi_application  # noqa: E402
from notes.gateway import messaging  # noqa: E402

application = amf_asgi_application(django_application, {"/messaging": messaging})
