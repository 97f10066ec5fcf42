"""ADC, the paper's method: Attention-based Double Compression.

- :mod:`adc.double_compression.method`  ADC itself (merge samples by k-means, prune tokens by CLS attention)
- :mod:`adc.double_compression.kmeans`  batched, seeded k-means without host synchronisation

The method registry discovers this package the way it discovers ``baselines/``.
"""
