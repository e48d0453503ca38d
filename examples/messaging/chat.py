"""What the shared-store chat servers (memcache_server.py, redis_server.py) have in common: a
login with one shared password, ChatService and SessionService."""
from amfast import remoting
from amfast.remoting.channel import SecurityError
from amfast.remoting.connection import SessionAttrError


class SharedPasswordLogin:
    """A ChannelSet mixin: any user name logs in with the shared ``password``."""

    password = "chat"

    def login(self, user: str, password: str) -> bool:
        if user and password == self.password:
            return True
        raise SecurityError("Invalid credentials.")


def map_chat_services(channel_set, *more_chat_targets) -> None:
    """ChatService.announce(text), ChatService.whoami() (secure: the logged-in user) and
    ``more_chat_targets``; SessionService.set(name, value) / SessionService.get(name) on the
    caller's connection (get answers None when unset)."""

    def announce(text):
        channel_set.publishObject({"user": "server", "text": text}, "chat")
        return True

    def whoami(packet, message):
        return message.body[0].connection.flex_user

    chat = remoting.Service("ChatService")
    chat.mapTarget(remoting.CallableTarget(announce, "announce"))
    chat.mapTarget(remoting.ExtCallableTarget(whoami, "whoami", secure=True))
    for target in more_chat_targets:
        chat.mapTarget(target)
    channel_set.service_mapper.mapService(chat)

    def set_attr(packet, message, name, value):
        message.body[0].connection.setSessionAttr(name, value)
        return True

    def get_attr(packet, message, name):
        try:
            return message.body[0].connection.getSessionAttr(name)
        except SessionAttrError:
            return None

    session = remoting.Service("SessionService")
    session.mapTarget(remoting.ExtCallableTarget(set_attr, "set"))
    session.mapTarget(remoting.ExtCallableTarget(get_attr, "get"))
    channel_set.service_mapper.mapService(session)
