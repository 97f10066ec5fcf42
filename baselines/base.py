"""``base``: no compression. Activations (B, N, D) fp32 up, their gradient down."""
from adc.methods import Method, register


@register
class Base(Method):
    name = "base"
    citation = "Uncompressed split learning (Gupta and Raskar, 2018; Vepakomma et al., 2018)."
    grid = {}
    test_params = {}
    authors_eval = "uncompressed"
    merges_batch = False
