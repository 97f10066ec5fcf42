"""The in-process carrier of messages between client and server.

Both sides only ever see a :class:`~adc.core.messages.Message`: the client hands its up-message
to the carrier, the server receives detached tensors (a new autograd graph begins there), and the
gradient message comes back the same way. The two-process runtime replaces the carrier by a wire
(:mod:`adc.runtime.wire`); the step itself (:mod:`adc.core.step`) is the same.
"""
from __future__ import annotations

from adc.core.messages import Message


class InProcessCarrier:
    """Client and server in one process: crossing the cut detaches the tensors."""

    def up(self, msg: Message) -> Message:
        return msg.detached()

    def down(self, msg: Message) -> Message:
        return msg.detached()


InProcessLink = InProcessCarrier   # the earlier name
