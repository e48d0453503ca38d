"""What the test suites share: real servers and stores, the Flex test client, the stream reader.

* ``net``: free loopback ports, waiting for a port;
* ``servers``: WSGI and ASGI applications served by real servers in this process
  (wsgiref, waitress, uvicorn), and which channel classes each serves;
* ``stores``: store servers the tests start and stop (memcached);
* ``flex``: ``FlexClient``, a Flex client on ``amfast.remoting.client`` that returns
  every reply, faults included;
* ``streams``: ``RawStream``, a streaming connection read byte by byte from a socket,
  with ``amfast.remoting.framing.FrameReader`` and an HTTP chunked-body reader.
"""
