"""The targets every ServiceMapper maps: the Credentials header and the Flex commands.

Command targets are ``ExtCallableTarget``s: they get ``(packet, msg, body)``,
where ``msg.body[0]`` is the CommandMessage and ``.connection`` its connection;
``packet.channel`` is the channel the request came in on.  Mapping another
target for an operation in ``ServiceMapper.command_service`` replaces the
built-in one.
"""
from __future__ import annotations

import base64
import binascii
import enum
import time
from typing import Any

from amfast.remoting.dispatch import Pending
from amfast.remoting.errors import SecurityError
from amfast.remoting.flex_messages import (AbstractMessage, AcknowledgeMessage, AsyncMessage,
                                           CommandMessage)
from amfast.remoting.subtopic import ANY
from amfast.remoting.waiting import Steps, Stopping, wait_for_messages

CREDENTIALS_HEADER = "Credentials"
NIL_DSID = "nil"


class PollRefused(enum.Enum):
    """Why a long-poll was answered at once without waiting."""

    #: Another poll of the same connection is already waiting (reply: DSNoOpPoll).
    DUPLICATE = "duplicate"
    #: The channel holds ``max_waiting_polls`` already (reply: DSPollWait).
    BUSY = "busy"


def nc_auth(packet: Any, header: Any, credentials: Any) -> None:
    """NetConnection ``Credentials`` header ``{userid, password}``: authenticates the packet."""
    if not isinstance(credentials, dict):
        raise SecurityError("Credentials header must be an object with userid and password.")
    packet.channel.channel_set.checkCredentials(credentials.get("userid"),
                                                credentials.get("password"))
    packet._authenticated = True


def client_ping(packet: Any, msg: Any, body: Any) -> AbstractMessage:
    """CLIENT_PING: the ack carries the connection id and the messaging version."""
    command = msg.body[0]
    ack = command.acknowledge(packet, msg)
    version = command.headers.get(CommandMessage.MESSAGING_VERSION)
    if isinstance(version, (int, float)) and version >= 1:
        command.connection.useSmallMessages()
        ack.headers[CommandMessage.MESSAGING_VERSION] = 1
    return ack


def login_operation(packet: Any, msg: Any, body: Any) -> None:
    """LOGIN: body ``base64("user:password")`` in the ``DSCredentialsCharset`` charset."""
    command = msg.body[0]
    charset = command.headers.get(CommandMessage.CREDENTIALS_CHARSET_HEADER) or "utf-8"
    try:
        # Flex's Base64Encoder wraps lines every 76 characters.
        text = base64.b64decode("".join(str(body or "").split()), validate=True).decode(
            str(charset))
    except (binascii.Error, ValueError, LookupError, TypeError):
        raise SecurityError("Credentials are not valid base64 text.") from None
    user, separator, password = text.partition(":")
    if not separator:
        raise SecurityError("Credentials must be 'user:password'.")
    connection = command.connection
    if connection.authenticated and connection.flex_user != user:
        # As BlazeDS: log out first; a connection never passes to another user.
        raise SecurityError("Already logged in as another user.")
    packet.channel.channel_set.checkCredentials(user, password)
    connection.authenticate(user)


def logout_operation(packet: Any, msg: Any, body: Any) -> None:
    """LOGOUT: the login and the session data go (the id stays: Flex cannot change it)."""
    connection = msg.body[0].connection
    connection.unAuthenticate()
    connection.clearSession()


def disconnect_operation(packet: Any, msg: Any, body: Any) -> None:
    connection = msg.body[0].connection
    packet.channel.channel_set.disconnect(connection)


def _require_login(packet: Any, command: CommandMessage, action: str) -> None:
    if packet.channel.channel_set.subscription_manager.secure and \
            not command.connection.authenticated:
        raise SecurityError(f"{action} requires authentication.")


def subscribe_operation(packet: Any, msg: Any, body: Any) -> AbstractMessage:
    """SUBSCRIBE: a Consumer (``clientId``; one is assigned when null) joins a destination."""
    command = msg.body[0]
    _require_login(packet, command, "Subscribing")
    if not command.clientId:
        command.clientId = packet.channel.channel_set.generateId()
    packet.channel.channel_set.subscription_manager.subscribe(
        command.connection.id, command.clientId, command.destination,
        command.headers.get(AsyncMessage.SUBTOPIC_HEADER),
        command.headers.get(CommandMessage.SELECTOR_HEADER))
    return command.acknowledge(packet, msg)


def unsubscribe_operation(packet: Any, msg: Any, body: Any) -> None:
    """UNSUBSCRIBE: the Consumer's subscriptions to its subtopic, or all of them."""
    command = msg.body[0]
    packet.channel.channel_set.subscription_manager.unSubscribe(
        command.connection.id, command.clientId, command.destination,
        command.headers.get(AsyncMessage.SUBTOPIC_HEADER) or ANY)


def multi_subscribe_operation(packet: Any, msg: Any, body: Any) -> AbstractMessage:
    """MULTI_SUBSCRIBE: ``DSAddSub``/``DSRemSub`` list ``subtopic_;_selector`` entries."""
    command = msg.body[0]
    _require_login(packet, command, "Subscribing")
    if not command.clientId:
        command.clientId = packet.channel.channel_set.generateId()
    manager = packet.channel.channel_set.subscription_manager
    for entry in command.headers.get(CommandMessage.REMOVE_SUBSCRIPTIONS) or ():
        sub_topic, _, selector = str(entry).partition(CommandMessage.SUBTOPIC_SEPARATOR)
        manager.unSubscribe(command.connection.id, command.clientId, command.destination,
                            sub_topic or None, selector or None)
    for entry in command.headers.get(CommandMessage.ADD_SUBSCRIPTIONS) or ():
        sub_topic, _, selector = str(entry).partition(CommandMessage.SUBTOPIC_SEPARATOR)
        manager.subscribe(command.connection.id, command.clientId, command.destination,
                          sub_topic or None, selector or None)
    return command.acknowledge(packet, msg)


def poll_operation(packet: Any, msg: Any, body: Any) -> AbstractMessage | Pending:
    """POLL: the waiting messages in a CLIENT_SYNC command, or a plain ack when none.

    On a long-polling channel (``wait_interval`` > 0) a poll that finds nothing
    is held (a Pending the transport completes) until messages come or the wait
    ends, unless it is batched with other messages or asks not to wait
    (``DSSuppressPollWait``).  A poll while another of the same connection is
    held gets ``DSNoOpPoll``; one the channel has no room to hold, ``DSPollWait``.
    """
    command = msg.body[0]
    _require_login(packet, command, "Polling")
    channel = packet.channel
    connection = command.connection
    subscriptions = channel.channel_set.subscription_manager
    messages = subscriptions.pollConnection(connection)
    wait_interval = getattr(channel, "wait_interval", 0)
    if messages or not wait_interval or len(packet.messages) > 1 or \
            command.headers.get(CommandMessage.SUPPRESS_POLL_WAIT_HEADER):
        return poll_reply(channel, command, messages)
    refused = channel.holdPoll(connection)
    if refused is not None:
        return poll_reply(channel, command, refused)
    return Pending(_held_poll(channel, command, subscriptions), (connection.id,))


def _held_poll(channel: Any, command: CommandMessage, subscriptions: Any) -> Steps:
    connection = command.connection
    try:
        wait = channel.wait_interval / 1000
        messages = yield from wait_for_messages(
            lambda: subscriptions.pollConnection(connection), time.monotonic() + wait,
            channel.poll_interval / 1000 if subscriptions.recheck else wait,
            lambda: connection.connected and not channel.channel_set.closing,
            blocks=channel.channel_set.storesBlock())
    except Stopping:
        messages = []  # the server stops: the poll is answered, empty
    finally:
        channel.releasePoll(connection)
    return poll_reply(channel, command, messages)


def poll_reply(channel: Any, command: CommandMessage, messages: list | PollRefused
               ) -> AbstractMessage:
    """A CLIENT_SYNC command carrying ``messages``, or a plain ack (telling why it is empty)."""
    if not isinstance(messages, list) or not messages:
        ack = AcknowledgeMessage()
        command._matchAcknowledge(ack)
        if messages is PollRefused.DUPLICATE:
            ack.headers[CommandMessage.NO_OP_POLL_HEADER] = True
        elif messages is PollRefused.BUSY:
            ack.headers[CommandMessage.POLL_WAIT_HEADER] = channel.BUSY_POLL_WAIT
        return ack
    channel.channel_set.stats.deliver(messages)
    reply = command.acknowledge()
    reply.operation = CommandMessage.CLIENT_SYNC_OPERATION
    reply.body = messages
    return reply


def map_built_ins(mapper: Any, target_class: type) -> None:
    """Map the Credentials header target and the command targets into ``mapper``."""
    mapper.packet_header_service.mapTarget(target_class(nc_auth, CREDENTIALS_HEADER))
    # Only LOGIN runs user code (checkCredentials); the others touch the stores only.
    for operation, func in (
            (CommandMessage.CLIENT_PING_OPERATION, client_ping),
            (CommandMessage.LOGIN_OPERATION, login_operation),
            (CommandMessage.LOGOUT_OPERATION, logout_operation),
            (CommandMessage.DISCONNECT_OPERATION, disconnect_operation),
            (CommandMessage.SUBSCRIBE_OPERATION, subscribe_operation),
            (CommandMessage.UNSUBSCRIBE_OPERATION, unsubscribe_operation),
            (CommandMessage.MULTI_SUBSCRIBE_OPERATION, multi_subscribe_operation),
            (CommandMessage.POLL_OPERATION, poll_operation)):
        target = target_class(func, operation)
        target.blocking = operation == CommandMessage.LOGIN_OPERATION
        mapper.command_service.mapTarget(target)

