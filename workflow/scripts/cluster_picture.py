"""Snakemake script (rule cluster_picture): a trained ADC run (model.pt next to metrics.json) -> one
batch grouped by cluster, kept tokens as masks (PDF, PNG). The logic is adc.report.analyses.cluster_pictures."""
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import torch  # noqa: E402

torch.set_num_threads(1)

from adc.report.analyses.cluster_pictures import cluster_picture  # noqa: E402

fig = dict(snakemake.params.figure or {})  # noqa: F821
paths = cluster_picture(Path(snakemake.input.metrics).parent, Path(snakemake.output.pdf).with_suffix(""),  # noqa: F821
                        max_clusters=fig.get("max_clusters", 12), max_images=fig.get("max_images", 10),
                        batch_size=fig.get("batch_size"))
print(*paths, sep="\n", file=sys.stderr)
