"""Property-based tests (hypothesis) over every registered compression method.

Random batch size, token count, width and setting from the method's own sweep; invariants:
finite outputs, shapes, bytes counted equal the tensors received, gradients reach the client,
evaluation leaves the activations unchanged unless the method says it compresses at evaluation.
"""
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from adc.core import step as cut
from adc.core.carrier import InProcessCarrier
from adc.methods import CutShape, registry

METHODS = sorted(registry())


def serialized_nbytes(msg):
    """The bytes a sender writes for the message's tensors: each one's raw memory, read back as bytes
    (independent of Message.nbytes, which multiplies numel by the element size)."""
    return sum(len(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
               for t in msg.tensors.values())


def test_message_nbytes_are_the_literal_sizes_of_known_shapes():
    from adc.core.messages import Message
    msg = Message({"acts": torch.zeros(3, 5, 7), "labels": torch.zeros(3, dtype=torch.uint8),
                   "scale": torch.zeros((), dtype=torch.bfloat16), "idx": torch.zeros(2, 9, dtype=torch.int16)},
                  payload=("acts",))
    assert msg.nbytes == 420 + 3 + 2 + 36 == serialized_nbytes(msg)
    assert msg.payload_nbytes == 420.0
    assert Message({"x": torch.zeros(4, 8)}, paper_bytes=12.5).payload_nbytes == 12.5


def one_step(cls, params, B, N, D, C, seed):
    g = torch.Generator().manual_seed(seed)
    shape = CutShape(B, N, D, C)
    method = cls(shape, generator=torch.Generator().manual_seed(seed), **params)
    client_mod, server_mod = method.client_module(), method.server_module()
    acts = torch.randn(B, N, D, generator=g).requires_grad_()
    attn = torch.rand(B, N, generator=g).softmax(-1)
    labels = torch.randint(0, C, (B,), generator=g)
    head = torch.nn.Linear(D, C)
    seen = {}

    class Recorder(InProcessCarrier):
        def up(self, msg):
            seen["received"] = super().up(msg)
            return seen["received"]

    def server_loss(tokens, targets):
        seen["tokens"] = tokens
        return method.loss(head(tokens.mean(1)), targets)

    s = cut.cross_cut(method, acts, attn, labels, cut.in_process(method, server_loss, Recorder()))
    return dict(method=method, up=s.up, received=seen["received"], down=s.down, tokens=seen["tokens"], loss=s.loss,
                acts=acts, client_mod=client_mod, server_mod=server_mod)


@pytest.mark.parametrize("name", METHODS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), B=st.integers(1, 9), N=st.integers(3, 12), D=st.integers(2, 12), C=st.integers(2, 6),
       seed=st.integers(0, 2 ** 16))
def test_method_invariants(name, data, B, N, D, C, seed):
    cls = registry()[name]
    params = data.draw(st.sampled_from(cls.settings("paper") + [dict(cls.test_params)]), label="params")
    r = one_step(cls, params, B, N, D, C, seed)
    # finite, well-shaped outputs on the server
    assert torch.isfinite(r["tokens"]).all() and torch.isfinite(r["loss"])
    assert r["tokens"].ndim == 3 and r["tokens"].shape[-1] == D
    # bytes counted equal the tensors that were received / sent back
    assert r["up"].nbytes == serialized_nbytes(r["received"]) > 0
    assert r["down"].nbytes == serialized_nbytes(r["down"]) > 0
    if name == "base":          # uncompressed: fp32 activations and uint8 labels (C <= 256) up, fp32 gradient down
        assert (r["up"].nbytes, r["down"].nbytes) == (B * N * D * 4 + B, B * N * D * 4)
    for t in r["down"].tensors.values():
        if t.is_floating_point():
            assert torch.isfinite(t).all()
    # the gradient reaches the client
    grads = [r["acts"].grad] if r["acts"].grad is not None else []
    if r["client_mod"] is not None:
        grads += [p.grad for p in r["client_mod"].parameters() if p.grad is not None]
    assert grads, f"{name}: no gradient reached the client"
    assert all(torch.isfinite(g).all() for g in grads)
    # (a client module with ReLUs, e.g. the ADC authors' BottleNet++ MLP, can be all dead at these tiny widths)
    dead_relu_possible = r["client_mod"] is not None and any(isinstance(m, torch.nn.ReLU) for m in r["client_mod"].modules())
    assert dead_relu_possible or any(g.abs().sum() > 0 for g in grads), \
        f"{name}: the gradient that reached the client is all zero"
    # evaluation: uncompressed unless the method declares otherwise
    x = torch.randn(B, N, D)
    with torch.no_grad():
        out = r["method"].eval_transform(x)
    if not cls.compress_at_eval:
        assert torch.equal(out, x)
    else:
        assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_payload(name):
    cls = registry()[name]
    a = one_step(cls, dict(cls.test_params), 8, 9, 6, 4, seed=7)
    b = one_step(cls, dict(cls.test_params), 8, 9, 6, 4, seed=7)
    assert a["up"].tensors.keys() == b["up"].tensors.keys()
    for k in a["up"].tensors:
        assert torch.equal(a["up"][k], b["up"][k]), f"{name}: payload {k!r} differs for the same seed"
