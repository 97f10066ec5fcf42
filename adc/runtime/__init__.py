"""The runtime: configuration, the training loop, checkpoints, the command line, two processes.

- :mod:`adc.runtime.config`       the training configuration (one dataclass)
- :mod:`adc.runtime.loop`         one training run, read top to bottom (:class:`SplitRun`)
- :mod:`adc.runtime.checkpoint`   atomic writes, checkpoint save and load
- :mod:`adc.runtime.cli`          ``python -m adc.train``: flags generated from the config
- :mod:`adc.runtime.distributed`  client and server in two processes over ``torch.distributed``
- :mod:`adc.runtime.wire`         the frame format of that two-process wire
- :mod:`adc.runtime.link`         the network link model (bandwidth, latency): ``link_seconds``
"""
