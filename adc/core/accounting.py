"""Communication counters.

Every step adds the two messages that crossed (up: client -> server, down: server -> client)
and what the uncompressed ``base`` method would have sent for the same batch. Sizes come from
the :class:`~adc.messages.Message` tensors (Python ints from shapes: no device synchronisation).

Two figures are kept:

- ``bytes_up`` / ``bytes_down``: every byte that crossed, side information included;
- ``xi_measured`` (the paper's convention): activation/gradient payload only, the mean over the
  two directions of compressed size / uncompressed fp32 activation size.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from adc.core.messages import Message, smallest_int_dtype

FP32 = 4


def label_nbytes(batch_size: int, num_classes: int) -> int:
    """Bytes of integer labels for a batch, in the smallest dtype that holds the class ids."""
    import torch
    return batch_size * torch.empty((), dtype=smallest_int_dtype(num_classes - 1)).element_size()


def uncompressed_step_bytes(batch_size: int, num_tokens: int, dim: int, num_classes: int) -> tuple[int, int, int]:
    """(up, down, activation payload) bytes that ``base`` sends for one batch."""
    act = batch_size * num_tokens * dim * FP32
    return act + label_nbytes(batch_size, num_classes), act, act


@dataclass
class CommMeter:
    bytes_up: int = 0
    bytes_down: int = 0
    payload_up: float = 0.0
    payload_down: float = 0.0
    bytes_uncompressed: int = 0      # what base would have sent, both directions, labels included
    payload_uncompressed: int = 0    # fp32 activation size, one direction (the xi denominator)
    steps: int = 0

    def add(self, up: Message, down: Message, batch_size: int, num_tokens: int, dim: int, num_classes: int) -> None:
        ref_up, ref_down, ref_act = uncompressed_step_bytes(batch_size, num_tokens, dim, num_classes)
        self.bytes_up += up.nbytes
        self.bytes_down += down.nbytes
        self.payload_up += up.payload_nbytes
        self.payload_down += down.payload_nbytes
        self.bytes_uncompressed += ref_up + ref_down
        self.payload_uncompressed += ref_act
        self.steps += 1

    @property
    def bytes_total(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def xi_up(self) -> float:
        return self.payload_up / self.payload_uncompressed if self.payload_uncompressed else float("nan")

    @property
    def xi_down(self) -> float:
        return self.payload_down / self.payload_uncompressed if self.payload_uncompressed else float("nan")

    @property
    def xi_measured(self) -> float:
        return (self.xi_up + self.xi_down) / 2

    def summary(self) -> dict:
        d = asdict(self)
        d.update(bytes_total=self.bytes_total, xi_up=self.xi_up, xi_down=self.xi_down, xi_measured=self.xi_measured,
                 xi_bytes=self.bytes_total / self.bytes_uncompressed if self.bytes_uncompressed else float("nan"))
        return d

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


# ----- the budget: what a step costs and when a run stops, under each protocol -------------------
#: the protocols a run can be charged under (TrainConfig.protocol)
PROTOCOLS = ("measured", "paper")

#: the ADC authors' budgets, in samples (``max_communication`` in their dataset configs, e.g.
#: ``configs/dataset/food_101.yaml`` of Federico-Alvetreti/Attention-based-Double-Compression:
#: 750,000 for Food-101, i.e. 9.90 epochs of its 75,750 training images, not 10; CIFAR-100: 500,000,
#: 10 epochs of 50,000). The ``paper`` protocol uses them when ``budget_samples`` is not given.
PAPER_BUDGET_SAMPLES = {"cifar100": 500_000, "food101": 750_000}


def steps_per_epoch(num_train: int, batch_size: int, drop_last: bool = False) -> int:
    """Training steps in one pass; ``drop_last`` drops the final partial batch (as the ADC authors' loader)."""
    return num_train // batch_size if drop_last else -(-num_train // batch_size)


def epoch_batch_sizes(num_train: int, batch_size: int, drop_last: bool = False) -> list[int]:
    """The size of every batch of one pass, in order (the last one partial unless ``drop_last``)."""
    sizes = [batch_size] * (num_train // batch_size)
    if num_train % batch_size and not drop_last:
        sizes.append(num_train % batch_size)
    return sizes


def paper_step_charge(nominal_xi: float, batch_size: int) -> float:
    """What the ADC authors add to ``model.communication`` per training step: ratio x batch size (samples).

    Every method of theirs does ``self.communication += self.compression_ratio * x.shape[0]`` in its
    training forward; labels, indices and side information are not counted."""
    return nominal_xi * batch_size


def budget_reached(protocol: str, used: float, budget: float) -> bool:
    """The stopping test, checked after every step.

    ``paper``: ``used > budget`` (the authors' ``if model.communication > max_communication: break``);
    ``measured``: ``used >= budget`` bytes (the bytes sent reach the budget)."""
    if protocol == "paper":
        return used > budget
    return used >= budget


def steps_to_budget(protocol: str, budget: float, step_cost, num_train: int, batch_size: int,
                    drop_last: bool = False, epoch_cap: int | None = None, max_steps: int = 10**9) -> int:
    """How many steps a run takes before :func:`budget_reached` stops it, without training.

    ``step_cost(batch_size) -> float`` is what one step of that many samples costs under ``protocol``
    (samples for ``paper``, bytes for ``measured``). The epochs' batch sizes follow
    :func:`epoch_batch_sizes`; the cost is added step by step, in the same order and with the same
    float arithmetic as the training loop, and the test is made after each step, as the loop does.
    ``epoch_cap``: at most that many passes (the authors' ``for epoch in range(1, 1000)`` is 999),
    whatever budget is left."""
    sizes = epoch_batch_sizes(num_train, batch_size, drop_last)
    if not sizes:
        raise ValueError(f"batch_size: {batch_size} with drop_last leaves no batch of {num_train} samples; "
                         "lower batch_size or set drop_last: false")
    costs = [step_cost(s) for s in sizes]
    used, steps, epochs = 0.0 if protocol == "paper" else 0, 0, 0
    while steps < max_steps and (epoch_cap is None or epochs < epoch_cap):
        epochs += 1
        for c in costs:
            used += c
            steps += 1
            if budget_reached(protocol, used, budget):
                return steps
    return steps
