"""The errors of remoting and messaging (re-exported where AmFast defined them)."""
from amfast import AmFastError


class RemotingError(AmFastError):
    """A remoting request cannot be dispatched."""


class FlexMessageError(RemotingError):
    """A Flex message cannot be processed."""


class ChannelError(AmFastError):
    """A channel or channel set is misused or misconfigured."""


class SecurityError(ChannelError):
    """The caller is not authenticated, or its credentials are wrong."""


class ChannelFullError(ChannelError):
    """The channel has as many connections as it allows."""


class ConnectionError(ChannelError):  # noqa: A001 - AmFast's name
    """A connection's state is missing or misused."""


class NotConnectedError(ConnectionError):
    """No connection has this id."""


class SessionAttrError(ConnectionError):
    """The session has no attribute of that name."""


class StoreUnavailableError(ChannelError):
    """The shared state store (memcached, the SQL database) cannot be reached."""
