"""The link between client and server.

Both sides only ever see a :class:`~adc.messages.Message`: the client hands its up-message to
the link, the server receives detached tensors (a new autograd graph begins there), and the
gradient message comes back the same way. The in-process link is the reference transport; a
two-process transport implements the same two calls.
"""
from __future__ import annotations

from .messages import Message


class InProcessLink:
    """Client and server in one process: crossing the cut detaches the tensors."""

    def up(self, msg: Message) -> Message:
        return msg.detached()

    def down(self, msg: Message) -> Message:
        return msg.detached()
