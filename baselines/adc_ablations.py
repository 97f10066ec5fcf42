"""ADC ablations: the paper's method with one of its two compressions switched off or randomised.

Each is :class:`adc.double_compression.ADC` with a class switch flipped; the parameter ``xi``
means the same as ADC's (the target compression ratio) and the paper grid is ADC's, so every
ablation is compared with ADC at the same points. The demo grid is {0.25, 0.35, 0.5}: it shares
0.25 and 0.5 with ADC's and leaves out xi = 0.1 (three ablations at ~10x the steps of an
uncompressed run would dominate the embedded default's time).

- ``adc_prune_only``: no merging. Each sample keeps its own CLS and the top (k - 1) tokens of its
  own CLS attention, k = max(1, int(xi * N)); its own label. xi = k / N.
- ``adc_merge_only``: merging, all N tokens kept. T = max(2, int(xi * B)) clusters by k-means on
  the CLS attention; soft labels. xi = T / B.
- ``adc_random_merge``: the full method (T/B = k/N = sqrt(xi)), but the clusters are a random
  balanced partition of the batch (a seeded permutation) instead of attention k-means; tokens
  still chosen by the centroid CLS attention.

Citation: the ADC paper's ablations (Attention-based Double Compression, see README).
"""
from adc.double_compression.method import ADC
from adc.methods import register

_CITE = "Ablation of Attention-based Double Compression (ADC), the paper this suite reproduces."
_DEMO = {"xi": [0.25, 0.35, 0.5]}


@register
class ADCPruneOnly(ADC):
    """ADC without merging: per-sample top-k tokens by the sample's own CLS attention."""

    name = "adc_prune_only"
    citation = _CITE
    ablation_of = "adc"
    demo_grid = _DEMO
    merges_batch = False          # one row per sample: a compressed evaluation applies
    merge = False
    prune = True


@register
class ADCMergeOnly(ADC):
    """ADC without pruning: attention k-means merging of samples, all tokens kept."""

    name = "adc_merge_only"
    citation = _CITE
    ablation_of = "adc"
    demo_grid = _DEMO
    merges_batch = True
    merge = True
    prune = False


@register
class ADCRandomMerge(ADC):
    """ADC with random clusters instead of attention k-means; attention-based token choice kept."""

    name = "adc_random_merge"
    citation = _CITE
    ablation_of = "adc"
    demo_grid = _DEMO
    merges_batch = True
    random_clusters = True
