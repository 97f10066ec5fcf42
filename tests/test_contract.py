"""The contract every registered method meets, parametrized over ``adc.methods.registry()``.

A new file in ``baselines/`` is tested here with no other edit. Each check is a plain function
of the method's name (``run_contract(name)`` runs them all), so the discovery test at the end
can run the same checks, in a subprocess, on a method that exists only in a temporary copy of
``baselines/``.

One step through a method is the training loop's step (``adc.runtime.loop.SplitRun.train_step``) on
the embedded ``vit_micro`` (N = 17 tokens, D = 32), with a carrier that counts the bytes of the
tensors that really cross.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from adc.core import step as cut
from adc.core.carrier import InProcessCarrier
from adc.core.accounting import CommMeter
from adc.messages import Message
from adc.methods import CutShape, Method, get_method, register, registry
from adc.core.models import create_model
from adc.core.split import SplitViT

ROOT = Path(__file__).resolve().parents[1]
C = 10            # classes
B_TEST = 8        # the configured batch size of the contract steps
NAMES = sorted(registry())


# ----- one step across the cut -------------------------------------------------------------------
class RecordingCarrier(InProcessCarrier):
    """Counts, independently of Message.nbytes, the bytes of every tensor that crosses."""

    def __init__(self):
        self.up_bytes = self.down_bytes = 0
        self.received_up: Message | None = None

    @staticmethod
    def _bytes(msg: Message) -> int:
        return sum(t.numel() * t.element_size() for t in msg.tensors.values())

    def up(self, msg):
        self.up_bytes += self._bytes(msg)
        self.received_up = super().up(msg)
        return self.received_up

    def down(self, msg):
        self.down_bytes += self._bytes(msg)
        return super().down(msg)


@dataclass
class Step:
    split: SplitViT
    method: Method
    x: torch.Tensor
    y: torch.Tensor
    up: Message
    down: Message
    tokens: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    loss: torch.Tensor
    carrier: RecordingCarrier
    meter: CommMeter


def make(name: str, B: int = B_TEST, seed: int = 0, params: dict | None = None) -> tuple[SplitViT, Method]:
    cls = get_method(name)
    torch.manual_seed(0)
    split = SplitViT(create_model("vit_micro", num_classes=C), 1)
    shape = CutShape(B, split.num_tokens, split.embed_dim, C, split.num_prefix_tokens)
    method = cls(shape, generator=torch.Generator().manual_seed(seed),
                 **(cls.test_params if params is None else params))
    return split, method


def batch(B: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + B)
    return torch.randn(B, 1, 8, 8, generator=g), torch.randint(0, C, (B,), generator=g)


def step(split: SplitViT, method: Method, x: torch.Tensor, y: torch.Tensor) -> Step:
    """What SplitRun.train_step does (the one step function), minus the optimizers."""
    carrier = RecordingCarrier()
    seen = {}

    def server_loss(tokens, targets):
        seen.update(tokens=tokens, targets=targets, logits=split.server(tokens))
        return method.loss(seen["logits"].float(), targets)

    s = cut.train_step(split.client, method, x, y, cut.in_process(method, server_loss, carrier))
    up, down, loss = s.up, s.down, s.loss
    tokens, targets, logits = seen["tokens"], seen["targets"], seen["logits"]
    meter = CommMeter()
    meter.add(up, down, x.shape[0], split.num_tokens, split.embed_dim, C)
    return Step(split, method, x, y, up, down, tokens, targets, logits, loss, carrier, meter)


def run(name: str, B: int = B_TEST, batch_size: int | None = None, seed: int = 0) -> Step:
    split, method = make(name, B, seed)
    return step(split, method, *batch(batch_size or B))


def client_parameters(s: Step) -> list[tuple[str, torch.nn.Parameter]]:
    params = list(s.split.client.named_parameters())
    if (m := s.method.client_module()) is not None:
        params += [(f"client_module.{n}", p) for n, p in m.named_parameters()]
    return params


# ----- the checks ----------------------------------------------------------------------------------
def _assert_well_formed(name: str, s: Step) -> None:
    N, D = s.split.num_tokens, s.split.embed_dim
    assert s.tokens.dim() == 3 and s.tokens.shape[2] == D, f"{name}: server tokens {tuple(s.tokens.shape)}, want (B', N', {D})"
    assert 1 <= s.tokens.shape[1] <= N, f"{name}: {s.tokens.shape[1]} tokens for the server (N = {N})"
    Bs = s.tokens.shape[0]
    assert 1 <= Bs <= s.x.shape[0], f"{name}: {Bs} server samples from a batch of {s.x.shape[0]}"
    assert s.logits.shape == (Bs, C)
    if s.targets.is_floating_point():
        assert s.targets.shape == (Bs, C), f"{name}: soft targets {tuple(s.targets.shape)}"
        torch.testing.assert_close(s.targets.sum(1), torch.ones(Bs))
    else:
        assert s.targets.shape == (Bs,), f"{name}: targets {tuple(s.targets.shape)}"
        assert set(s.targets.tolist()) <= set(s.y.tolist()), f"{name}: targets are not the batch's labels"
    assert torch.isfinite(s.loss), f"{name}: loss {s.loss}"
    for k, t in s.down.tensors.items():
        if t.is_floating_point():
            assert torch.isfinite(t).all(), f"{name}: non-finite gradient message tensor {k!r}"
    assert s.up.payload and s.down.payload, f"{name}: a message names no payload tensor"
    assert s.up.payload_nbytes > 0 and s.down.payload_nbytes > 0


def _assert_client_gradients(name: str, s: Step) -> None:
    params = client_parameters(s)
    missing = [n for n, p in params if p.grad is None]
    assert not missing, f"{name}: no gradient reached client parameters {missing}"
    for n, p in params:
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {n}"
    assert s.split.client.patch_embed.proj.weight.grad.abs().sum() > 0, f"{name}: zero gradient at the patch embedding"
    if (m := s.method.client_module()) is not None:
        assert sum(p.grad.abs().sum() for p in m.parameters()) > 0, f"{name}: zero gradient in client_module"
    if (m := s.method.server_module()) is not None:
        assert all(p.grad is not None for p in m.parameters()), f"{name}: server_module got no gradient"


def check_shapes(name: str) -> None:
    """The server gets (B', N', D) tokens and matching targets; loss and gradient message are finite."""
    _assert_well_formed(name, run(name))


def check_gradients_reach_the_client(name: str) -> None:
    """After the gradient message, every client parameter (and the client module's) has a gradient."""
    _assert_client_gradients(name, run(name))


def _uses_default_gradient_path(method: Method) -> bool:
    cls = type(method)
    return all(getattr(cls, f) is getattr(Method, f) for f in ("decode", "encode_grad", "decode_grad"))


def check_split_gradient_equals_one_graph(name: str) -> None:
    """With the default leaf -> gradient path, the cut loses nothing: the client's gradients equal those
    of one autograd graph through encode -> reconstruct -> server. (Methods that compress the
    gradient, e.g. quantization, override the path and are checked by their own unit tests.)"""
    split, method = make(name)
    if not _uses_default_gradient_path(method):
        return
    x, y = batch(B_TEST)
    s = step(split, method, x, y)
    split2, method2 = make(name)
    acts, attn = split2.client(x)
    up, _ = method2.encode(acts, attn, y)
    tokens, targets = method2.reconstruct(up, {k: up[k] for k in up.payload})
    method2.loss(split2.server(tokens).float(), targets).backward()
    for (n, p), (_, q) in zip(s.split.client.named_parameters(), split2.client.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {n}: {m}")


def check_bytes_are_the_message_tensors(name: str) -> None:
    """Bytes counted up and down equal the bytes of the tensors that crossed; nothing travels free."""
    s = run(name)
    assert s.meter.bytes_up == s.carrier.up_bytes == s.up.nbytes > 0, f"{name}: up bytes disagree"
    assert s.meter.bytes_down == s.carrier.down_bytes == s.down.nbytes > 0, f"{name}: down bytes disagree"
    for msg in (s.up, s.down):
        assert all(isinstance(t, torch.Tensor) for t in msg.tensors.values())
        # meta is never counted: it may hold a few plain values (flags, shapes), never data
        for k, v in msg.meta.items():
            assert not isinstance(v, torch.Tensor) and len(repr(v)) < 200, f"{name}: meta[{k!r}] carries data"
    # what the server received is exactly what was sent, cut from the client's graph
    for k, t in s.carrier.received_up.tensors.items():
        assert t.grad_fn is None and torch.equal(t, s.up[k].detach())
    # labels: as the base class packs them (or soft labels for merging methods)
    labels = s.up["labels"]
    assert labels.is_floating_point() or labels.element_size() == 1, f"{name}: labels sent as {labels.dtype}"


def check_xi_matches_expected(name: str, B: int = B_TEST) -> None:
    """The paper-convention xi measured on a real step equals expected_xi() within 5%."""
    s = run(name, B)
    want = s.method.expected_xi()
    got = s.meter.xi_measured
    assert 0 < want and math.isfinite(got), f"{name}: expected_xi {want}, measured {got}"
    assert got == pytest.approx(want, rel=0.05), f"{name}: measured xi {got:.4f} != expected_xi() {want:.4f} (B={B})"


def check_declared_xi_needs_no_build(name: str) -> None:
    """expected_xi depends on the shape and parameters alone: the cheap probe that comparisons at equal xi
    search with (Method.declared_xi) equals a built method's; and a method with a knob reaches a target."""
    split, method = make(name)
    cls = type(method)
    params = dict(cls.test_params)
    assert cls.declared_xi(method.shape, params) == method.expected_xi(), f"{name}: declared_xi != expected_xi()"
    if cls.xi_knob is not None:
        setting = cls.setting_for_xi(0.25, method.shape)
        assert cls.xi_knob[0] in setting, f"{name}: setting_for_xi must set its knob {cls.xi_knob[0]!r}"
        assert cls.declared_xi(method.shape, setting) == cls(method.shape, **setting).expected_xi()


def check_eval_transform(name: str) -> None:
    """Evaluation sees the uncompressed activations unless the method declares compress_at_eval."""
    split, method = make(name)
    x, _ = batch(B_TEST)
    split.eval()
    with torch.no_grad():
        acts, _ = split.client(x, with_attention=False)
        state = method.generator.get_state()
        out = method.eval_transform(acts)
        again = method.eval_transform(acts)
    assert torch.equal(out, again), f"{name}: eval_transform is not deterministic"
    if not type(method).compress_at_eval:
        assert out is acts or torch.equal(out, acts), f"{name}: evaluation is compressed but compress_at_eval is False"
        assert torch.equal(method.generator.get_state(), state), f"{name}: eval_transform consumed the generator"
    else:
        assert out.shape[0] == B_TEST and out.shape[2] == acts.shape[2] and torch.isfinite(out).all()
        assert not torch.equal(out, acts), f"{name}: compress_at_eval is True but eval_transform is the identity"
        with torch.no_grad():
            assert split.server(out).shape == (B_TEST, C)


def check_same_seed_same_payload(name: str) -> None:
    """Two instances with the same seed send identical messages, both directions."""
    a, b = run(name, seed=0), run(name, seed=0)
    for ma, mb, direction in ((a.up, b.up, "up"), (a.down, b.down, "down")):
        assert list(ma.tensors) == list(mb.tensors)
        for k in ma.tensors:
            assert torch.equal(ma[k], mb[k]), f"{name}: {direction} tensor {k!r} differs for the same seed"


def check_small_and_uneven_batches(name: str) -> None:
    """B = 1, a batch size not divisible by group sizes (5), and a last batch smaller than configured."""
    for B in (1, 5):
        s = run(name, B)
        _assert_well_formed(name, s)
        _assert_client_gradients(name, s)
        assert s.meter.xi_measured == pytest.approx(s.method.expected_xi(), rel=0.05), f"{name}: xi at B={B}"
    for actual in (5, 1):                      # configured for 8, the last batch is smaller
        s = run(name, B_TEST, batch_size=actual)
        _assert_well_formed(name, s)
        _assert_client_gradients(name, s)


def check_trains_in_the_real_loop(name: str, tmp_dir: Path) -> None:
    """One epoch of the real training loop on digits: bytes in metrics equal the carrier's, xi as declared."""
    from adc.runtime.config import TrainConfig
    from adc.runtime.loop import SplitRun
    cls = get_method(name)
    cfg = TrainConfig(dataset="digits", model="vit_micro", method=name, params=dict(cls.test_params),
                      batch_size=64, lr=1e-3, epochs=1, device="cpu", progress=False, out=str(tmp_dir / name))
    r = SplitRun(cfg)
    r.carrier = RecordingCarrier()
    m = r.run(log=lambda *_: None)
    assert m["bytes_up"] == r.carrier.up_bytes and m["bytes_down"] == r.carrier.down_bytes
    assert m["xi_measured"] == pytest.approx(m["xi_expected"], rel=0.05), f"{name}: xi over an epoch"
    assert 0.0 <= m["final_test_accuracy"] <= 1.0 and math.isfinite(m["final_train_loss"])


def check_protocol_declarations(name: str) -> None:
    """``authors_eval``, ``merges_batch``, ``compress_at_eval`` and ``nominal_xi`` are declared and true to
    behaviour: a method merges the batch iff the server gets fewer rows than samples; a method that
    keeps one row per sample can be evaluated through its own message (one prediction per sample)."""
    cls = get_method(name)
    assert cls.authors_eval in ("uncompressed", "compressed"), f"{name}: authors_eval {cls.authors_eval!r}"
    assert isinstance(cls.merges_batch, bool) and isinstance(cls.compress_at_eval, bool)
    if cls.compress_at_eval:
        assert cls.authors_eval == "compressed" and not cls.merges_batch, \
            f"{name}: a learned bottleneck is evaluated through itself and keeps one row per sample"
    s = run(name)
    rows = s.tokens.shape[0]
    assert (rows < s.x.shape[0]) == cls.merges_batch, \
        f"{name}: merges_batch={cls.merges_batch}, but {s.x.shape[0]} samples gave {rows} server rows"
    xi = s.method.nominal_xi()
    assert isinstance(xi, float) and 0 < xi <= 1.5, f"{name}: nominal_xi {xi!r}"
    split, method = make(name)
    x, y = batch(B_TEST)
    with torch.no_grad():
        acts, attn = split.client(x)
        if cls.merges_batch:
            with pytest.raises(ValueError, match="cannot be evaluated compressed"):
                method.eval_roundtrip(acts, attn, y)
        else:
            tokens = method.eval_transform(acts) if cls.compress_at_eval else method.eval_roundtrip(acts, attn, y)
            assert tokens.shape[0] == B_TEST and tokens.shape[2] == acts.shape[2], f"{name}: eval rows {tuple(tokens.shape)}"


CHECKS = [check_shapes, check_gradients_reach_the_client, check_split_gradient_equals_one_graph,
          check_bytes_are_the_message_tensors, check_xi_matches_expected, check_declared_xi_needs_no_build,
          check_eval_transform, check_same_seed_same_payload, check_small_and_uneven_batches,
          check_protocol_declarations]


def run_contract(name: str, tmp_dir: Path | None = None) -> None:
    """Every check on one method (used by the discovery test's subprocess)."""
    for check in CHECKS:
        check(name)
    if tmp_dir is not None:
        check_trains_in_the_real_loop(name, tmp_dir)


# ----- the tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", NAMES)
def test_contract(name, check):
    check(name)


@pytest.mark.parametrize("name", NAMES)
def test_trains_in_the_real_loop(name, tmp_path):
    check_trains_in_the_real_loop(name, tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_declares_what_the_registry_needs(name):
    cls = get_method(name)
    assert (cls.__doc__ or sys.modules[cls.__module__].__doc__) and cls.citation, \
        f"{name}: needs a docstring and a citation"
    for which in ("paper", "demo"):
        for setting in cls.settings(which):
            _, m = make(name, B=64, params=setting)
            assert 0 < m.expected_xi() <= 1.5, f"{name} {setting}: expected_xi {m.expected_xi()}"
    make(name, params=cls.test_params)


def test_duplicate_names_are_an_error():
    class Impostor(Method):
        name = "base"
    before = registry()["base"]
    with pytest.raises(ValueError, match="registered twice"):
        register(Impostor)
    assert registry()["base"] is before


NEW_METHOD = '''
"""``fp16_test``: activations and their gradient cross in float16 (xi = 0.5)."""
import torch
from adc.messages import Message
from adc.methods import Method, register


@register
class FP16(Method):
    """Half-precision activations up and half-precision gradients down."""
    name = "fp16_test"
    citation = "A test method."
    grid = {}
    test_params = {}

    def expected_xi(self):
        return 0.5

    def encode(self, acts, attn, labels):
        half = acts.half()
        return Message({"acts": half, "labels": self.pack_labels(labels)}, payload=("acts",)), {"acts": half}

    def reconstruct(self, msg, leaves):
        return leaves["acts"].float(), self.unpack_labels(msg)
'''

# sends everything but declares xi = 0.5: the contract must catch it
LIAR = NEW_METHOD.replace('"fp16_test"', '"liar_test"').replace("class FP16", "class Liar").replace(
    "half = acts.half()", "half = acts * 1.0")

# files starting with '_' are skipped; this one would fail loudly if imported
DRAFT = 'raise RuntimeError("discovery imported a file that starts with an underscore")\n'


def test_a_new_file_in_a_copy_of_baselines_is_registered_and_passes_the_contract(tmp_path):
    pkg = tmp_path / "baselines"
    shutil.copytree(ROOT / "baselines", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "fp16_test.py").write_text(NEW_METHOD)
    (pkg / "liar_test.py").write_text(LIAR)
    (pkg / "_draft.py").write_text(DRAFT)
    # the commented template, copied as a user would (new file, new name), must work as is
    template = (ROOT / "baselines" / "_template.py").read_text()
    assert 'name = "my_method"' in template
    (pkg / "from_template.py").write_text(template.replace('name = "my_method"', 'name = "from_template"'))
    script = f"""
import sys
sys.path[:0] = [{str(tmp_path)!r}, {str(ROOT)!r}]
import importlib.util
from pathlib import Path
import torch
torch.set_num_threads(1)
from adc.methods import registry
reg = registry()
for name in ("fp16_test", "from_template"):
    assert name in reg, sorted(reg)
    assert reg[name].__module__ == "baselines." + name, reg[name].__module__
    assert reg[name].__module__ and Path(sys.modules[reg[name].__module__].__file__).parent == Path({str(pkg)!r})
assert "my_method" not in reg
spec = importlib.util.spec_from_file_location("contract_copy", {str(ROOT / "tests" / "test_contract.py")!r})
contract = importlib.util.module_from_spec(spec)
sys.modules["contract_copy"] = contract
spec.loader.exec_module(contract)
assert "fp16_test" in contract.NAMES and "from_template" in contract.NAMES
contract.run_contract("fp16_test", Path({str(tmp_path)!r}))
contract.run_contract("from_template")
try:
    contract.run_contract("liar_test")
except AssertionError as e:
    print("CAUGHT:", e)
else:
    raise SystemExit("the contract passed a method whose expected_xi is wrong")
print("CONTRACT OK")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "CONTRACT OK" in r.stdout
    assert "CAUGHT:" in r.stdout and "liar_test: measured xi" in r.stdout, r.stdout
