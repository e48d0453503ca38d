"""The targets every ServiceMapper maps: the Credentials header and the ping command."""
from __future__ import annotations

from typing import Any

from amfast.remoting.errors import SecurityError
from amfast.remoting.flex_messages import AbstractMessage, CommandMessage

CREDENTIALS_HEADER = "Credentials"
NIL_DSID = "nil"


def nc_auth(packet: Any, header: Any, credentials: Any) -> None:
    """NetConnection ``Credentials`` header ``{userid, password}``: authenticates the packet."""
    if not isinstance(credentials, dict):
        raise SecurityError("Credentials header must be an object with userid and password.")
    packet.channel.channel_set.checkCredentials(credentials.get("userid"),
                                                credentials.get("password"))
    packet.authenticated = True


def client_ping(packet: Any, msg: Any, body: Any) -> CommandMessage:
    """CLIENT_PING: the acknowledgement tells the client its id (``DSId``)."""
    command = msg.body[0]
    ack = command.acknowledge()
    client_id = command.headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
    if not client_id or client_id == NIL_DSID:
        client_id = packet.channel.channel_set.generateId()
    ack.headers[AbstractMessage.FLEX_CLIENT_ID_HEADER] = client_id
    return ack
