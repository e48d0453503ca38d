"""The dispatch core: a decoded request Packet and its RequestContext in, the reply out.

BlazeDS's broker is the model.  ``MessageBroker.dispatch`` runs the packet's
headers through the header targets (``Credentials`` authenticates the packet),
then answers each message on its own:

* a NetConnection call (``Service.method``) goes to its service target;
* a Flex message (target ``null``) gets its connection (``DSId``), then a
  ``RemotingMessage`` goes to the target ``destination.operation``, an
  ``AsyncMessage`` is published, a ``CommandMessage`` goes to the command
  target of its operation (ping, login, subscribe, poll... see ``targets``).

Every reply is addressed in one place (``AbstractMessage.acknowledge``/``fail``),
and a failure becomes the fault reply of its own message only.

The broker never blocks to wait: when a message's answer is not ready (a poll
that must wait for messages, a target that returned an awaitable) it returns a
``PendingReply``, which the transport completes its own way (a thread waits for
WSGI, a coroutine awaits for ASGI; see ``waiting``).  It knows no HTTP, thread
or event loop.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import amfast
from amfast.remoting.errors import FlexMessageError, RemotingError, SecurityError
from amfast.remoting.flex_messages import (AbstractMessage, AcknowledgeMessage, AsyncMessage,
                                           CommandMessage, ErrorMessage, RemotingMessage)
from amfast.remoting.packet import Message, Packet
from amfast.remoting.waiting import Steps

__all__ = ["MessageBroker", "RequestContext", "Pending", "PendingReply"]


class RequestContext:
    """What the transport knows of one request: the channel it came in on, and the
    transport's own request object (a webob Request, an ASGI scope, a Django
    HttpRequest...), which targets reach as ``packet.context.request``."""

    __slots__ = ("channel", "request")

    def __init__(self, channel: Any, request: Any = None):
        self.channel = channel
        self.request = request

    @property
    def channel_set(self) -> Any:
        return self.channel.channel_set


class Pending:
    """An answer that is not ready: ``steps`` (see ``waiting``) produce it, woken by
    notifications for the connections in ``listen``.  A command target returns one
    to be completed by the transport (the poll does)."""

    __slots__ = ("steps", "listen")

    def __init__(self, steps: Steps, listen: tuple = ()):
        self.steps = steps
        self.listen = tuple(listen)


def _awaiting(awaitable: Any) -> Steps:
    return (yield awaitable)


class PendingReply:
    """A reply Packet whose messages are not all answered yet.

    The transport drives ``steps()`` (``waiting.run`` or ``run_async``) while
    notifications for ``listen`` wake it; the steps return the complete reply.
    """

    def __init__(self, reply: Packet, parts: list):
        self.reply = reply
        self._parts = parts

    @property
    def listen(self) -> tuple:
        return tuple(i for part in self._parts for i in part[1].listen)

    def steps(self) -> Steps:
        for index, pending, finish, fail in self._parts:
            try:
                value = yield from pending.steps
                self.reply.messages[index] = finish(value)
            except Exception as exc:
                self.reply.messages[index] = fail(exc)
        return self.reply


def _arguments(body: Any) -> list:
    return body if isinstance(body, (list, tuple)) else [body]


def _flex_reply(message: Message, body: Any) -> Message:
    return message.failure(body) if isinstance(body, ErrorMessage) else message.result(body)


class MessageBroker:
    """Dispatches request packets for one channel set."""

    def __init__(self, channel_set: Any):
        self.channel_set = channel_set

    def dispatch(self, packet: Packet, context: RequestContext) -> Packet | PendingReply:
        """The reply to ``packet``: a Packet, or a PendingReply when some answer must wait.

        A failing header fails every message; a failing message fails only itself.
        """
        packet.channel = context.channel
        packet.context = context
        reply = Packet(packet.client_type)
        try:
            self.invokeHeaders(packet)
        except Exception as exc:
            reply.messages = [self.fault(packet, message, exc) for message in packet.messages]
            return reply
        parts = []
        for index, message in enumerate(packet.messages):
            answer = self.answer(packet, message)
            if isinstance(answer, tuple):
                parts.append((index,) + answer)
                answer = None
            reply.messages.append(answer)
        return PendingReply(reply, parts) if parts else reply

    def blocks(self, packet: Packet) -> bool:
        """Whether answering ``packet`` may run a target that blocks (``Target.blocking``),
        stores aside: headers run user code; a publish blocks as the channel set's
        ``publishBlocks()`` says."""
        if packet.headers:
            return True
        mapper = self.channel_set.service_mapper
        for message in packet.messages:
            if not message.is_flex_msg:
                service_name, _, method = (message.target or "").rpartition(".")
                target = (mapper.getTarget(service_name, method) if service_name
                          else mapper.default_service.getTarget(method))
            else:
                flex = message.body[0]
                if isinstance(flex, CommandMessage):
                    target = mapper.command_service.getTarget(flex.operation)
                elif isinstance(flex, RemotingMessage):
                    target = mapper.getTarget(flex.destination, flex.operation)
                elif isinstance(flex, AsyncMessage):
                    if self.channel_set.publishBlocks():
                        return True
                    target = None
                else:
                    target = None
            if target is not None and target.blocking:
                return True
        return False

    def invokeHeaders(self, packet: Packet) -> None:
        """Run the header target named like each header (unknown required headers fail)."""
        header_service = self.channel_set.service_mapper.packet_header_service
        for header in packet.headers:
            target = header_service.getTarget(header.name)
            if target is None:
                if header.required:
                    raise RemotingError(f"Required header '{header.name}' is not understood.")
                continue
            target.invoke(packet, header, (header.value,))

    def answer(self, packet: Packet, message: Message) -> Message | tuple:
        """The reply Message, or ``(Pending, finish, fail)`` when it must wait: ``finish``
        makes the reply of the pending value, ``fail`` that of an exception."""
        try:
            if message.is_flex_msg:
                value = self.invokeFlex(packet, message, message.body[0])
                finish: Callable[[Any], Message] = lambda body: _flex_reply(message, body)
            else:
                value = self.invokeCall(packet, message)
                finish = message.result
            if isinstance(value, Pending):
                return value, finish, lambda exc: self.fault(packet, message, exc)
            return finish(value)
        except Exception as exc:
            return self.fault(packet, message, exc)

    def fault(self, packet: Packet, message: Message, exc: BaseException) -> Message:
        """The fault reply of ``message``; the traceback goes to clients only in debug mode."""
        amfast.logger.warning("Call of '%s' failed: %s: %s", message.target, type(exc).__name__,
                              exc, exc_info=exc if amfast.log_debug else None)
        return message.fault(exc, bool(getattr(self.channel_set, "debug", False)))

    # -- remoting --------------------------------------------------------------------

    def invokeCall(self, packet: Packet, message: Message) -> Any:
        """A NetConnection call: ``Service.method``, or ``method`` of the default service."""
        service_name, _, method = (message.target or "").rpartition(".")
        mapper = self.channel_set.service_mapper
        if service_name:
            target = mapper.getTarget(service_name, method)
        else:
            target = mapper.default_service.getTarget(method)
        if target is None:
            raise RemotingError(f"Target '{message.target}' not found.")
        if target.secure and not packet._authenticated:
            raise SecurityError("Target requires authentication.")
        return self.call(target, packet, message, _arguments(message.body))

    def call(self, target: Any, packet: Packet, message: Message, args: Any) -> Any:
        """Invoke a target; an awaitable result (a coroutine target) becomes Pending."""
        if amfast.log_debug:
            amfast.logger.debug("invoking target %r", target)
        result = target.invoke(packet, message, args)
        if inspect.isawaitable(result):
            return Pending(_awaiting(result))
        return result

    def invokeFlex(self, packet: Packet, message: Message, flex: AbstractMessage) -> Any:
        """The reply message (or its Pending) to a Flex message."""
        if not isinstance(flex.headers, dict):
            flex.headers = {}
        flex.connection = packet.channel.getFlexConnection(flex)
        if isinstance(flex, CommandMessage):
            return self.command(packet, message, flex)
        if isinstance(flex, AsyncMessage) and not isinstance(flex, AcknowledgeMessage):
            return self.publish(packet, message, flex)
        if isinstance(flex, RemotingMessage):
            return self.remoteCall(packet, message, flex)
        raise FlexMessageError(f"{type(flex).__name__} cannot be invoked on this server.")

    def remoteCall(self, packet: Packet, message: Message, flex: RemotingMessage) -> Any:
        """A RemoteObject call of ``destination.operation``: the ack carries the result."""
        target = self.channel_set.service_mapper.getTarget(flex.destination, flex.operation)
        if target is None:
            raise FlexMessageError(f"Operation '{flex.destination}.{flex.operation}' not found.")
        if target.secure and not (packet._authenticated or flex.connection.authenticated):
            raise SecurityError("Operation requires authentication.")
        result = self.call(target, packet, message, _arguments(flex.body))
        return self._acknowledged(flex, result)

    # -- commands and messaging ---------------------------------------------------------

    def command(self, packet: Packet, message: Message, flex: CommandMessage) -> Any:
        """The command target of the operation gets the command's body; its result is the
        ack's body, unless it is a whole reply message."""
        target = self.channel_set.service_mapper.command_service.getTarget(flex.operation)
        if target is None:
            raise FlexMessageError(f"Command '{flex.operation}' not found.")
        result = self.call(target, packet, message, (flex.body,))
        return self._acknowledged(flex, result)

    def publish(self, packet: Packet, message: Message, flex: AsyncMessage) -> AbstractMessage:
        """A Producer's message goes to the destination's subscribers."""
        channel_set = self.channel_set
        if channel_set.subscription_manager.secure and not flex.connection.authenticated:
            raise SecurityError("Publishing requires authentication.")
        ack = flex.acknowledge()
        channel_set.publishMessage(flex.forPublication())
        return ack

    @staticmethod
    def _acknowledged(flex: AbstractMessage, result: Any) -> Any:
        """``result`` as a reply message: itself if it is one, else an ack carrying it."""
        def reply(value: Any) -> AbstractMessage:
            if isinstance(value, AbstractMessage):
                return value
            ack = flex.acknowledge()
            ack.body = value
            return ack

        if isinstance(result, Pending):
            return Pending(_then(result.steps, reply), result.listen)
        return reply(result)


def _then(steps: Steps, finish: Callable[[Any], Any]) -> Steps:
    return finish((yield from steps))

