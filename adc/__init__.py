"""ADC-Bench: communication-efficient split learning of Vision Transformers.

The library behind the benchmark, in subpackages by concern (data flows one way, top to bottom):

- :mod:`adc.core`                the split model, messages, the carrier, byte accounting, the ``Method``
                                 interface and registry, and the ONE step across the cut (``adc.core.step``)
- :mod:`adc.double_compression`  ADC itself and its k-means
- :mod:`adc.data`                datasets, transforms, loading, the hub probe
- :mod:`adc.runtime`             config, training loop, checkpoints, command line, two processes, link model
- :mod:`adc.report`              collecting runs, tables, plots, figures, FLOPs, analyses
- :mod:`adc.pipeline`            what the Snakemake workflow computes (config checks, the run grid)

Competing methods live in ``baselines/`` (one file each); ``python -m adc.train`` is the command line.
"""

__version__ = "0.1.0"
