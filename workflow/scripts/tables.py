"""Snakemake script (rule tables): results/summary_mean.csv + histories -> Markdown and LaTeX tables.
The logic is adc.report.tables."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

import pandas as pd  # noqa: E402

from adc.report import tables  # noqa: E402

out = snakemake.output  # noqa: F821
tables.write_tables(pd.read_csv(snakemake.input.mean), pd.read_csv(snakemake.input.histories),  # noqa: F821
                    out.accuracy_md, out.accuracy_tex, out.comm_md, out.comm_tex)
