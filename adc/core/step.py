"""One training step across the cut: the one place where client and server meet.

Every caller goes through these functions: the training loop (in-process and two-process), the
FLOP counter, the benchmarks and the contract and property tests. One step is::

    acts, attn = client(x)                                  # client forward
    up, client_state = method.encode(acts, attn, y)         # client -> up message
    down, loss = cross(up)                                  # the cut: the server's half on the far side
        tokens, targets, server_state = method.decode(up')  #   server gets detached tensors
        loss = server_loss(tokens, targets); loss.backward()
        down = method.encode_grad(server_state)             #   server -> gradient message
    method.decode_grad(client_state, down)                  # client continues backward

``cross`` is what differs between transports: in-process it is :func:`in_process` (the
:class:`~adc.core.carrier.InProcessCarrier` detaches each message, the server's half runs here);
in two processes the client's ``cross`` sends a wire frame and the server process runs
:func:`server_step` on what it receives. ``phase`` (optional) wraps each part in a context
manager named ``client_encode``, ``server_decode``, ``server_forward_backward``,
``server_encode_grad`` and ``client_decode_grad``: the FLOP counter counts each part that way.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

from torch import Tensor, nn

from adc.core.carrier import InProcessCarrier
from adc.core.channel import Channel
from adc.core.messages import Message

Cross = Callable[[Message], "tuple[Message, Tensor]"]
ServerLoss = Callable[[Tensor, Tensor], Tensor]


def _no_phase(name: str) -> ContextManager:
    return contextlib.nullcontext()


@dataclass
class StepResult:
    up: Message            # what the client sent (as sent: the sender's tensors)
    down: Message          # the gradient message the client received
    loss: Tensor           # the server's loss, detached (a device scalar: no host synchronisation)


def model_loss(server: nn.Module, method) -> ServerLoss:
    """The server's loss on a split model: the method's loss of the server half's logits."""
    return lambda tokens, targets: method.loss(server(tokens).float(), targets)


def server_step(method, server_loss: ServerLoss, up: Message, *, optimizer=None,
                autocast: Callable[[], ContextManager] = contextlib.nullcontext,
                phase: Callable[[str], ContextManager] = _no_phase) -> tuple[Message, Tensor]:
    """The server's half of a step, on the up-message it received: the gradient message and the loss."""
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    with phase("server_decode"):
        tokens, targets, server_state = method.decode(up)
    with phase("server_forward_backward"):
        with autocast():
            loss = server_loss(tokens, targets)                     # server forward + loss
        loss.backward()
    with phase("server_encode_grad"):
        down = method.encode_grad(server_state)                     # server -> client
    if optimizer is not None:
        optimizer.step()
    return down, loss.detach()


def in_process(method, server_loss: ServerLoss, carrier: InProcessCarrier | None = None,
               channel: Channel | None = None, **server_kw) -> Cross:
    """``cross`` for client and server in one process: the carrier detaches what crosses, and the
    channel (:mod:`adc.core.channel`; clean by default) perturbs it on the way, in each direction."""
    carrier = carrier if carrier is not None else InProcessCarrier()
    channel = channel if channel is not None else Channel()

    def cross(up: Message):
        down, loss = server_step(method, server_loss, channel.up(carrier.up(up)), **server_kw)
        return channel.down(carrier.down(down)), loss
    return cross


def cross_cut(method, acts: Tensor, attn: Tensor | None, labels: Tensor, cross: Cross, *, client_opt=None,
              autocast: Callable[[], ContextManager] = contextlib.nullcontext,
              phase: Callable[[str], ContextManager] = _no_phase) -> StepResult:
    """From the client's activations on: encode, cross (server's half), client backward, client update."""
    with phase("client_encode"), autocast():
        up, client_state = method.encode(acts, attn, labels)        # client -> server
    down, loss = cross(up)                                          # the cut (server on the far side)
    with phase("client_decode_grad"):
        method.decode_grad(client_state, down)                      # client backward
    if client_opt is not None:
        client_opt.step()
    return StepResult(up, down, loss)


def train_step(client: nn.Module, method, x: Tensor, y: Tensor, cross: Cross, *, client_opt=None,
               autocast: Callable[[], ContextManager] = contextlib.nullcontext,
               phase: Callable[[str], ContextManager] = _no_phase) -> StepResult:
    """One whole step: client forward, then :func:`cross_cut`."""
    if client_opt is not None:
        client_opt.zero_grad(set_to_none=True)
    with autocast():
        acts, attn = client(x)                                      # client forward
    return cross_cut(method, acts, attn, y, cross, client_opt=client_opt, autocast=autocast, phase=phase)


__all__ = ["StepResult", "Cross", "ServerLoss", "model_loss", "server_step", "in_process", "cross_cut",
           "train_step"]
