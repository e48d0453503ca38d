"""Channels as Django views (AmFast's ``DjangoChannel`` and ``StreamingDjangoChannel``).

Map the channel in a channel set, then route to it from a URLconf::

    channel_set = WsgiChannelSet()
    channel = DjangoChannel("amf")
    channel_set.mapChannel(channel)
    urlpatterns = [path("amf", channel)]

The channels are the WSGI channels answering from a Django ``HttpRequest``: the same
checks, the same answers (``wsgi_channel.answer_response`` writes them), the stream
through the same machinery, handed to Django as a ``StreamingHttpResponse``.  They are
CSRF-exempt (a Flash or Royale client posts no CSRF token).  Targets reach the Django
request as ``packet.context.request`` or ``django_request(packet)`` (AmFast's
``packet._django_request`` too), so they see ``request.user`` and ``request.session``.

A held long-poll or stream holds a Django worker thread (under Django's ASGI handler a
sync view even holds the one thread all sync views share): for push at scale mount the
ASGI channel set beside Django (``amfast.remoting.django_asgi``; docs/django.md).
Needs the optional extra ``amfast[django]``.
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from webob import Request

from amfast.remoting import Packet
from amfast.remoting.channel import HttpAnswer
from amfast.remoting.dispatch import PendingReply
from amfast.remoting.wsgi_channel import StreamingWsgiChannel, WsgiApp, WsgiChannel

__all__ = ["DjangoChannel", "StreamingDjangoChannel", "django_request", "current_request",
           "session_user"]

#: The Content-Type of AMF requests.  A browser sends it to another site, with that site's
#: cookies, only after a CORS preflight: a request carrying it comes from the site's own
#: client, not from a page forging a "simple" cross-site POST (the views are CSRF-exempt).
AMF_CONTENT_TYPE = "application/x-amf"

#: The answer to a stream open under Django's ASGI handler.
STREAM_UNDER_ASGI = (b"Streaming through a Django view needs Django's WSGI handler; under ASGI, "
                     b"mount the ASGI channel set in front of Django (docs/django.md).")
#: Where the Django request rides in the WSGI environ handed to the WSGI channel.
_ENVIRON_KEY = "amfast.django_request"
#: The Django request being dispatched, for code that is not given the packet
#: (``ChannelSet.checkCredentials``).
_current: ContextVar[HttpRequest | None] = ContextVar("amfast_django_request", default=None)


def current_request() -> HttpRequest | None:
    """The Django request this thread dispatches now (None outside a Django channel)."""
    return _current.get()


def django_request(packet: Packet) -> HttpRequest | None:
    """The Django ``HttpRequest`` a packet came in with (None outside a Django channel)."""
    request = packet.context.request if packet.context is not None else None
    return request if isinstance(request, HttpRequest) else None


def session_user(request: HttpRequest | None) -> Any:
    """The user logged in to the Django session of ``request``, or None.  The session counts
    only on an AMF request (``AMF_CONTENT_TYPE``), so that another site cannot call secure
    targets with a visitor's session cookie."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user if request.content_type == AMF_CONTENT_TYPE else None


def _environ(request: HttpRequest) -> dict:
    """A WSGI environ for the WSGI channel: Django's META (under Django's ASGI handler it
    lacks ``wsgi.input``), the request itself as the body stream (Django's own stream,
    bounded by Content-Length, and not ``request.body``, which refuses bodies over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``: the channel's ``max_body_size`` is the bound)."""
    environ = dict(request.META)
    environ["REQUEST_METHOD"] = request.method
    environ["wsgi.input"] = request
    environ[_ENVIRON_KEY] = request
    return environ


def _django_response(app: WsgiApp, environ: dict) -> HttpResponseBase:
    """Run a WSGI answer and hand what it writes to Django, the body as it comes."""
    started: list = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        started[:] = [status, headers]

    body = app(environ, start_response)
    status, headers = started
    code = int(status.split(" ", 1)[0])
    content_type = dict(headers).get("Content-Type")
    others = {name: value for name, value in headers if name != "Content-Type"}
    if isinstance(body, list):
        return HttpResponse(b"".join(body), status=code, content_type=content_type,
                            headers=others)
    if isinstance(environ[_ENVIRON_KEY], ASGIRequest):
        # Django's ASGI handler reads a sync iterator to its end before it sends a byte: the
        # stream would never arrive and its frames would pile up.
        body.close()
        return HttpResponse(STREAM_UNDER_ASGI, status=501, content_type="text/plain")
    # A stream: Django calls its close() when the server closes the response.
    return StreamingHttpResponse(body, status=code, content_type=content_type,
                                 headers=others)


class DjangoChannel(WsgiChannel):
    """RPC, polling and long-polling (``wait_interval``) as a Django view."""

    #: Django's CsrfViewMiddleware skips views marked so (``csrf_exempt`` marks functions).
    csrf_exempt = True

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        channel_set = self.channel_set
        if not channel_set.started:
            channel_set.start()
        environ = _environ(request)
        return _django_response(self.respond(Request(environ)), environ)

    def answerAmf(self, raw: bytes, request: Any = None) -> HttpAnswer:
        # The targets get the Django request, not the WSGI channel's webob one.
        if isinstance(request, Request):
            request = request.environ.get(_ENVIRON_KEY, request)
        return WsgiChannel.answerAmf(self, raw, request)

    def dispatch(self, packet: Packet, request: Any = None) -> Packet | PendingReply:
        if isinstance(request, HttpRequest):
            packet._django_request = request  # AmFast's name
            if session_user(request) is not None:
                # Logged in to the Django session (the admin, a login page): a secure
                # target needs no second login.
                packet._authenticated = True
        token = _current.set(request if isinstance(request, HttpRequest) else None)
        try:
            return WsgiChannel.dispatch(self, packet, request)
        finally:
            _current.reset(token)


class StreamingDjangoChannel(DjangoChannel, StreamingWsgiChannel):
    """A Flex ``StreamingAMFChannel`` endpoint as a Django view; each open stream holds a
    Django worker thread (``max_streams`` bounds them).  ``StreamingWsgiChannel`` opens the
    streams (its constructor and ``respond``); Django writes them as they come."""
