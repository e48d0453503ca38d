"""Calls the hello example server: python examples/hello/client.py [port]"""
import sys

from amfast.remoting.client import RemotingFault, RemotingService

port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
service = RemotingService(f"http://127.0.0.1:{port}/amf")

print("NetConnection echo:", service.call("ExampleService.echo", {"hello": ["world", 1]}))
print("RemoteObject echo:", service.remote_call("ExampleService", "echo", "hi"))
try:
    service.call("ExampleService.raiseException")
except RemotingFault as fault:
    print("fault as expected:", fault)
try:
    service.call("ExampleService.secret")
except RemotingFault as fault:
    print("refused as expected:", fault)
service.setCredentials("correct", "correct")
print("with credentials:", service.call("ExampleService.secret"))
