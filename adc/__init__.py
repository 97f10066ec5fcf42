"""ADC-Bench: communication-efficient split learning of Vision Transformers.

The library behind the benchmark. One module per concern:

- :mod:`adc.models`       timm model factory, including the embedded ``vit_micro``
- :mod:`adc.split`        a timm ViT cut into client and server parts, CLS attention capture
- :mod:`adc.messages`     the named tensors that cross the cut, and their sizes
- :mod:`adc.cut`          the link between client and server (in-process transport)
- :mod:`adc.accounting`   communication counters (every byte, and the paper's xi)
- :mod:`adc.methods`      the compression-method interface and registry
- :mod:`adc.kmeans`       batched, seeded k-means without host synchronisation
- :mod:`adc.double_compression`  ADC itself (merge by k-means, prune by attention)
- :mod:`adc.data`         dataset registry (embedded digits), validation split, seeded batching
- :mod:`adc.datasets`     real datasets through Hugging Face ``datasets`` (CIFAR, Food-101, ...; local forms)
- :mod:`adc.transforms`   the paper's torchvision transforms
- :mod:`adc.loading`      fast multi-worker loading in a seeded order
- :mod:`adc.hub`          reachability probe and offline mode for the hub
- :mod:`adc.config`       the training configuration (one dataclass)
- :mod:`adc.train`        the training loop and ``python -m adc.train``
- :mod:`adc.transport`    wire frames, bit packing, the link model (bandwidth, latency)
- :mod:`adc.distributed`  client and server in two processes over ``torch.distributed``
- :mod:`adc.time_to_accuracy`  accuracy against wall-clock under a link
- :mod:`adc.pipeline`     what the Snakemake workflow computes (config checks, the run grid)
- :mod:`adc.report`       the long table, summary and tables
- :mod:`adc.figures`      the paper-style figures
- :mod:`adc.analyses`     grid search, cluster pictures, ablations
- :mod:`adc.flops`        client/server FLOPs per method (``torch.utils.flop_counter``)
"""

__version__ = "0.1.0"
