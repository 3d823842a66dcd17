"""A real SMTP server for tests: aiosmtpd on a free loopback port, collecting parsed messages."""
import email
import email.policy
import socket
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collector:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook signature
        if self.server.refuse:
            return "451 Temporarily unavailable"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
        return "250 OK"


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse = False  # set True to answer 451 to every message (a failing relay)
        self.controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def clear(self):
        with self.lock:
            self.messages.clear()
        self.refuse = False

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]


def text_body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()
