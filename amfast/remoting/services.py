"""Services and the targets a client can invoke, and the registry of them all.

A ``ServiceMapper`` holds the services (``Service.method`` targets), the header
targets (``packet_header_service``), the Flex command targets by operation number
(``command_service``, with the built-ins of ``amfast.remoting.targets``) and the
default service (NetConnection targets without a service name).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator

from amfast.remoting import targets


class Target:
    """Something a client can invoke; ``secure`` targets need an authenticated caller.

    ``blocking``: whether ``invoke`` may block (on I/O, a lock, a long computation).
    The ASGI channel set calls a packet's targets on its event loop when none of them
    blocks (nor its stores), in a worker thread otherwise.
    """

    blocking = True

    def __init__(self, name: Any, secure: bool = False):
        self.name = name
        self.secure = secure

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def mapObject(cls, service: "Service", obj: Any, secure: bool = False,
                  map_private: bool = False, map_special: bool = False) -> None:
        """Map every callable attribute of ``obj`` as a target of this class in ``service``."""
        for name in dir(obj):
            if name.startswith("__") and name.endswith("__"):
                if not map_special:
                    continue
            elif name.startswith("_") and not map_private:
                continue
            attr = getattr(obj, name)
            if callable(attr):
                service.mapTarget(cls(attr, name, secure))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, secure={self.secure!r})"


class CallableTarget(Target):
    """Calls ``callable(*args)`` with the client's arguments."""

    def __init__(self, callable_: Callable, name: Any, secure: bool = False):
        Target.__init__(self, name, secure)
        self.callable = callable_
        # Calling a coroutine function only makes the coroutine: it is awaited later.
        self.blocking = not inspect.iscoroutinefunction(callable_)

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        return self.callable(*args)


class ExtCallableTarget(CallableTarget):
    """Calls ``callable(packet, message, *args)``: the target sees the request itself."""

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        return self.callable(packet, msg, *args)


class Service:
    """A named collection of targets."""

    SEPARATOR = "."
    PACKET_HEADER_SERVICE = "PACKET_HEADER_SERVICE"
    COMMAND_SERVICE = "COMMAND_SERVICE"
    DEFAULT_SERVICE = "DEFAULT_SERVICE"

    def __init__(self, name: str):
        self.name = name
        self._targets: dict = {}

    def mapTarget(self, target: Target) -> None:
        self._targets[target.name] = target

    def unMapTarget(self, target: Target) -> None:
        self._targets.pop(target.name, None)

    def getTarget(self, target_name: Any) -> Target | None:
        return self._targets.get(target_name)

    def __iter__(self) -> Iterator[Target]:
        return iter(list(self._targets.values()))


class ServiceMapper:
    """Every exposed service, plus the header, command and default services."""

    def __init__(self):
        self._services: dict = {}
        self.packet_header_service = Service(Service.PACKET_HEADER_SERVICE)
        self.command_service = Service(Service.COMMAND_SERVICE)
        self.default_service = Service(Service.DEFAULT_SERVICE)
        targets.map_built_ins(self, ExtCallableTarget)

    def mapService(self, service: Service) -> None:
        self._services[service.name] = service

    def unMapService(self, service: Service) -> None:
        self._services.pop(service.name, None)

    def getService(self, service_name: str) -> Service | None:
        return self._services.get(service_name)

    def getTarget(self, service_name: str, target_name: Any) -> Target | None:
        service = self._services.get(service_name)
        return None if service is None else service.getTarget(target_name)

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._services.values()))
