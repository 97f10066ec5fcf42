"""Reports: from ``results/`` to tables and figures, never reaching back upstream.

- :mod:`adc.report.collect`           collect runs into the long table, summaries
- :mod:`adc.report.figures`           the paper-style figures (accuracy vs xi, vs communication)
- :mod:`adc.report.time_to_accuracy`  accuracy against wall-clock under a link model
- :mod:`adc.report.flops`             client/server FLOPs per method
- :mod:`adc.report.analyses`          grid search, cluster pictures, ablations
"""
