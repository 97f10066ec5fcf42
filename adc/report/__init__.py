"""Reports: from ``results/`` to tables and figures, never reaching back upstream.

- :mod:`adc.report.collect`           read runs (``read_metrics``: the one reader of metrics.json) into long tables
- :mod:`adc.report.reach`             "the first point that reaches X% of base"; communication to that target
- :mod:`adc.report.tables`            the one Markdown / LaTeX table writer; the accuracy and communication tables
- :mod:`adc.report.plotting`          the one plotting module: style, colour/marker/label per method, panels, saving
- :mod:`adc.report.figures`           the paper-style figures (accuracy vs xi, vs communication)
- :mod:`adc.report.time_to_accuracy`  accuracy against wall-clock under a link model
- :mod:`adc.report.flops`             client/server FLOPs per method (the numbers of Fig. 5)
- :mod:`adc.report.analyses`          grid search, cluster pictures, ablations: a module per kind
"""
