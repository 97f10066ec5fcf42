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
- :mod:`adc.data`         datasets (embedded digits) and seeded batching
- :mod:`adc.train`        the training loop and ``python -m adc.train``
"""

__version__ = "0.1.0"
