"""An operator console for a channel set: its services (with a service browser that
calls them through the real AMF path), channels, live connections, destinations,
traffic charts and recent faults, in a browser; and its metrics for Prometheus.

``ConsoleApp`` is a WSGI application, ``AsgiConsoleApp`` its ASGI counterpart (for an
``AsgiChannelSet``); ``beside`` mounts either next to the channel set::

    from amfast.console import ConsoleApp, single_user

    console = ConsoleApp(channel_set, single_user("admin", "s3cret"))
    application = console.beside(channel_set)        # the console at /console/

See docs/console.md.
"""
from amfast.console.asgi import AsgiConsoleApp
from amfast.console.auth import single_user
from amfast.console.core import Console
from amfast.console.errors import BadRequest, ConsoleError
from amfast.console.wsgi import ConsoleApp

__all__ = ["ConsoleApp", "AsgiConsoleApp", "Console", "single_user", "ConsoleError",
           "BadRequest"]
