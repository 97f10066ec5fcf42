"""The split-learning core: what every run, benchmark and test is built from.

- :mod:`adc.core.models`      timm model factory, including the embedded ``vit_micro``
- :mod:`adc.core.split`       a timm ViT cut into client and server halves, CLS attention capture
- :mod:`adc.core.messages`    the named tensors that cross the cut, and their sizes
- :mod:`adc.core.carrier`     the in-process carrier of messages (crossing detaches)
- :mod:`adc.core.bitpack`     the one bit packer (indices, quantisation codes)
- :mod:`adc.core.accounting`  communication counters (every byte, and the paper's xi)
- :mod:`adc.core.methods`     the compression-method interface and its registry
- :mod:`adc.core.step`        the ONE function for one training step across the cut
"""
