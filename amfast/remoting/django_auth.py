"""Django's users behind a channel set: logins through ``django.contrib.auth``, and
targets that need a user, a permission or a group.

``DjangoAuthMixin`` goes before the channel set class::

    class ChannelSet(DjangoAuthMixin, WsgiChannelSet):
        pass

A Flex login (``channelSet.login``) and a NetConnection ``Credentials`` header are
checked by ``django.contrib.auth.authenticate`` (so by the project's
``AUTHENTICATION_BACKENDS``); through a Django channel the user is also logged in to
the Django session (``django.contrib.auth.login``: the session cookie then logs in the
browser's later requests, the admin included).  ``secure=True`` keeps meaning "logged
in"; ``DjangoCallableTarget`` and ``DjangoExtCallableTarget`` (or the decorators
``permission_required``/``group_required`` on the mapped functions) also ask for
permissions or groups.  See docs/django.md.
"""
from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from typing import Any, Callable, Iterable

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import constant_time_compare

from amfast.remoting import Packet
from amfast.remoting.channel import SecurityError
from amfast.remoting.connection import SessionAttrError
from amfast.remoting.django_channel import current_request, django_request, session_user
from amfast.remoting.flex_messages import CommandMessage
from amfast.remoting.services import CallableTarget, ExtCallableTarget
from amfast.remoting.targets import (CREDENTIALS_HEADER, login_operation, logout_operation,
                                     nc_auth)

__all__ = ["DjangoAuthMixin", "DjangoCallableTarget", "DjangoExtCallableTarget", "django_user",
           "permission_required", "group_required", "USER_ATTR"]

#: The session attribute of a Flex connection that logged in: ``[pk, session hash]`` of its
#: Django user (the name a client typed may not be the user's username).
USER_ATTR = "_amfast_django_user"
#: The user ``checkCredentials`` found, for the target that called it.
_found: ContextVar[Any] = ContextVar("amfast_django_found_user", default=None)


class DjangoAuthMixin:
    """A ChannelSet mixin checking credentials with ``django.contrib.auth``; a Flex login
    remembers its Django user on the connection, a Credentials header on the packet; a Flex
    logout also logs the Django session out."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        mapper = self.service_mapper
        mapper.packet_header_service.mapTarget(ExtCallableTarget(_credentials,
                                                                 CREDENTIALS_HEADER))
        login_target = ExtCallableTarget(_login, CommandMessage.LOGIN_OPERATION)
        login_target.blocking = True  # authenticate() queries the database
        mapper.command_service.mapTarget(login_target)
        mapper.command_service.mapTarget(
            ExtCallableTarget(_logout, CommandMessage.LOGOUT_OPERATION))

    def checkCredentials(self, user: str, password: str) -> None:
        request = current_request()
        found = authenticate(request, username=user, password=password)
        if found is None:
            raise SecurityError("Invalid credentials.")
        if request is not None:
            if hasattr(request, "session"):
                login(request, found)  # sets request.user, rotates the session key
            else:
                request.user = found
        _found.set(found)


def _checked(operation: Callable, *args: Any) -> Any:
    """Run a built-in target that calls ``checkCredentials``; the Django user it found."""
    token = _found.set(None)
    try:
        operation(*args)
        return _found.get()
    finally:
        _found.reset(token)


def _credentials(packet: Packet, header: Any, credentials: Any) -> None:
    """NetConnection ``Credentials``: the packet's calls run as the user found."""
    found = _checked(nc_auth, packet, header, credentials)
    if found is not None:
        packet._django_user = found


def _login(packet: Packet, msg: Any, body: Any) -> None:
    """LOGIN (the built-in target); the connection remembers its Django user by key."""
    found = _checked(login_operation, packet, msg, body)
    if found is not None:
        msg.body[0].connection.setSessionAttr(USER_ATTR, [found.pk, _session_hash(found)])


def _logout(packet: Packet, msg: Any, body: Any) -> None:
    """LOGOUT: the Flex connection's login and session data (the built-in target), and,
    through a Django channel, the Django session's login."""
    logout_operation(packet, msg, body)
    request = django_request(packet)
    if request is not None and hasattr(request, "session"):
        logout(request)
    # The packet's later messages run logged out too (a batch may log out, then call).
    packet._authenticated = False
    packet.__dict__.pop("_django_user", None)
    packet.__dict__.pop("_django_connection_users", None)


def _session_hash(user: Any) -> str:
    get_hash = getattr(user, "get_session_auth_hash", None)
    return get_hash() if get_hash is not None else ""


def django_user(packet: Packet, message: Any = None) -> Any:
    """The Django user behind a call: the Django session's (on an AMF request), else the
    user of the packet's Credentials header, else the user that logged in the Flex
    connection of ``message`` (still active, password unchanged), else ``AnonymousUser``."""
    user = session_user(django_request(packet))
    if user is not None:
        return user
    user = getattr(packet, "_django_user", None)
    if user is not None:
        return user
    # Only a Flex message's connection is the server's (dispatch sets it); a
    # NetConnection call's arguments are the client's own.
    if message is None or not message.is_flex_msg:
        return AnonymousUser()
    connection = message.body[0].connection
    if connection is None or not connection.authenticated:
        return AnonymousUser()
    known = packet.__dict__.setdefault("_django_connection_users", {})
    if connection.id not in known:
        known[connection.id] = _connection_user(connection)
    return known[connection.id]


def _connection_user(connection: Any) -> Any:
    try:
        pk, session_hash = connection.getSessionAttr(USER_ATTR)
    except (SessionAttrError, TypeError, ValueError):
        return AnonymousUser()
    model = get_user_model()
    user = model._default_manager.filter(pk=pk).first()
    if user is None or not getattr(user, "is_active", True) or \
            not constant_time_compare(session_hash, _session_hash(user)):
        return AnonymousUser()
    return user


def _requiring(func: Callable, permissions: Iterable[str] = (),
               groups: Iterable[str] = ()) -> Callable:
    """``func`` marked as needing these permissions and groups: only a ``DjangoCallableTarget``
    calls it (after its checks); called otherwise it refuses (``__wrapped__`` is ``func``)."""
    inner = getattr(func, "_amfast_unchecked", func)

    @functools.wraps(inner)
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SecurityError(f"'{inner.__name__}' needs Django permissions or groups: map it "
                            "with DjangoCallableTarget.")

    refuse._amfast_unchecked = inner
    refuse._amfast_permissions = tuple(getattr(func, "_amfast_permissions", ())) + \
        tuple(permissions)
    refuse._amfast_groups = tuple(getattr(func, "_amfast_groups", ())) + tuple(groups)
    return refuse


def _unchecked(callable_: Callable) -> Callable:
    """The function a mark wraps (bound again when the mark is a method's)."""
    inner = getattr(callable_, "_amfast_unchecked", None)
    if inner is None:
        return callable_
    return inner.__get__(callable_.__self__) if inspect.ismethod(callable_) else inner


def permission_required(*perms: str) -> Callable[[Callable], Callable]:
    """Mark a function as needing these permissions (``"app_label.codename"``): only a
    ``DjangoCallableTarget`` runs it, after checking them."""
    return lambda func: _requiring(func, permissions=perms)


def group_required(*groups: str) -> Callable[[Callable], Callable]:
    """Mark a function as needing a user in one of these groups: only a
    ``DjangoCallableTarget`` runs it, after checking."""
    return lambda func: _requiring(func, groups=groups)


class _DjangoChecks:
    """What a target asks of the Django user before it is called."""

    permissions: tuple = ()
    groups: tuple = ()

    def _require(self, callable_: Callable, permissions: Iterable[str],
                 groups: Iterable[str]) -> None:
        self.permissions = tuple(permissions) + tuple(getattr(callable_, "_amfast_permissions",
                                                              ()))
        self.groups = tuple(groups) + tuple(getattr(callable_, "_amfast_groups", ()))

    def check(self, packet: Packet, msg: Any) -> None:
        """SecurityError unless the Django user has every permission and one of the groups."""
        if not (self.permissions or self.groups):
            return
        user = django_user(packet, msg)
        if not user.is_authenticated:
            raise SecurityError("Operation requires a logged-in user.")
        if self.permissions and not user.has_perms(self.permissions):
            raise SecurityError("Operation requires a permission the user lacks.")
        if self.groups and not user.groups.filter(name__in=self.groups).exists():
            raise SecurityError("Operation requires a group the user is not in.")


class DjangoCallableTarget(_DjangoChecks, CallableTarget):
    """``CallableTarget`` (calls ``callable(*args)``) that may need Django permissions or
    groups (given here or by the decorators)."""

    def __init__(self, callable_: Callable, name: Any, secure: bool = False,
                 permissions: Iterable[str] = (), groups: Iterable[str] = ()):
        CallableTarget.__init__(self, _unchecked(callable_), name, secure)
        self._require(callable_, permissions, groups)
        # Needing a permission or a group needs a login first.
        self.secure = secure or bool(self.permissions or self.groups)

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        if not self.blocking and (self.permissions or self.groups):
            # A coroutine target runs on the event loop, where the ORM may not run.
            return self._checked_call(packet, msg, args)
        self.check(packet, msg)
        return self.call(packet, msg, args)

    async def _checked_call(self, packet: Any, msg: Any, args: Any) -> Any:
        await sync_to_async(self.check)(packet, msg)
        return await self.call(packet, msg, args)

    def call(self, packet: Any, msg: Any, args: Any) -> Any:
        return CallableTarget.invoke(self, packet, msg, args)


class DjangoExtCallableTarget(DjangoCallableTarget):
    """As ``DjangoCallableTarget``, calling ``callable(packet, message, *args)``."""

    def call(self, packet: Any, msg: Any, args: Any) -> Any:
        return ExtCallableTarget.invoke(self, packet, msg, args)
