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

from typing import Any, Callable, Iterable

from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.models import AnonymousUser

from amfast.remoting import Packet
from amfast.remoting.channel import SecurityError
from amfast.remoting.django_channel import current_request, django_request
from amfast.remoting.flex_messages import AbstractMessage, CommandMessage
from amfast.remoting.services import CallableTarget, ExtCallableTarget
from amfast.remoting.targets import logout_operation

__all__ = ["DjangoAuthMixin", "DjangoCallableTarget", "DjangoExtCallableTarget", "django_user",
           "permission_required", "group_required"]


class DjangoAuthMixin:
    """A ChannelSet mixin checking credentials with ``django.contrib.auth``; a Flex logout
    also logs the Django session out."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.service_mapper.command_service.mapTarget(
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


def _logout(packet: Packet, msg: Any, body: Any) -> None:
    """LOGOUT: the Flex connection's login and session data (the built-in target), and,
    through a Django channel, the Django session's login."""
    logout_operation(packet, msg, body)
    request = django_request(packet)
    if request is not None and hasattr(request, "session"):
        logout(request)


def django_user(packet: Packet, message: Any = None) -> Any:
    """The Django user behind a request: the Django session's, else the user that logged
    in the Flex connection of ``message`` (one query, kept for the packet), else
    ``AnonymousUser``."""
    request = django_request(packet)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    found = getattr(packet, "_django_user", None)
    if found is not None:
        return found
    found = AnonymousUser()
    body = getattr(message, "body", None)
    flex = body[0] if isinstance(body, (list, tuple)) and body else None
    connection = getattr(flex, "connection", None) if isinstance(flex, AbstractMessage) else None
    if connection is not None and connection.authenticated:
        model = get_user_model()
        try:
            found = model._default_manager.get_by_natural_key(connection.flex_user)
        except model.DoesNotExist:
            pass
    packet._django_user = found
    return found


def permission_required(*perms: str) -> Callable[[Callable], Callable]:
    """Mark a function that a ``DjangoCallableTarget`` maps as needing these permissions
    (``"app_label.codename"``)."""
    def mark(func: Callable) -> Callable:
        func._amfast_permissions = tuple(getattr(func, "_amfast_permissions", ())) + perms
        return func
    return mark


def group_required(*groups: str) -> Callable[[Callable], Callable]:
    """Mark a function that a ``DjangoCallableTarget`` maps as needing a user in one of
    these groups."""
    def mark(func: Callable) -> Callable:
        func._amfast_groups = tuple(getattr(func, "_amfast_groups", ())) + groups
        return func
    return mark


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
        CallableTarget.__init__(self, callable_, name, secure)
        self._require(callable_, permissions, groups)
        # Needing a permission or a group needs a login first.
        self.secure = secure or bool(self.permissions or self.groups)

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        self.check(packet, msg)
        return CallableTarget.invoke(self, packet, msg, args)


class DjangoExtCallableTarget(DjangoCallableTarget):
    """As ``DjangoCallableTarget``, calling ``callable(packet, message, *args)``."""

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        self.check(packet, msg)
        return ExtCallableTarget.invoke(self, packet, msg, args)
