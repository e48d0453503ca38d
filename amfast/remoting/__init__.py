"""AMF remoting: packets, services and the targets they dispatch to.

AmFast's names, gathered from the modules that define them: ``Packet``,
``Header`` and ``Message`` (``amfast.remoting.packet``, data), ``Service``,
``Target``, ``CallableTarget``, ``ExtCallableTarget`` and ``ServiceMapper``
(``amfast.remoting.services``), ``RemotingError``.  A channel hands each request
packet to the dispatch core (``amfast.remoting.dispatch``); see
docs/architecture.md for the layers and the request flow.
"""
from amfast.remoting.errors import RemotingError
from amfast.remoting.packet import Header, Message, Packet
from amfast.remoting.services import (CallableTarget, ExtCallableTarget, Service, ServiceMapper,
                                      Target)

__all__ = ["Packet", "Header", "Message", "Service", "Target", "CallableTarget",
           "ExtCallableTarget", "ServiceMapper", "RemotingError"]
