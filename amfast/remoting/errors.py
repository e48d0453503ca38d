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


class NotConnectedError(ChannelError):
    """No connection has this id."""


class StoreUnavailableError(ChannelError):
    """The shared state store (memcached) cannot be reached."""
