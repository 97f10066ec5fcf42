"""Comparisons at equal xi: every method's setting for a target xi, and the pipeline's ``xi:`` key."""
import math

import pytest

from adc import pipeline
from adc.core.methods import CutShape, registry

MICRO = CutShape(64, 17, 32, 10)
TINY = CutShape(128, 197, 192, 100)


@pytest.mark.parametrize("name", sorted(n for n, c in registry().items() if c.xi_knob is not None))
@pytest.mark.parametrize("shape", [MICRO, TINY], ids=["micro", "deit_tiny"])
def test_setting_for_xi_is_the_nearest_setting_the_knob_allows(name, shape):
    cls = registry()[name]
    knob, low, high = cls.xi_knob
    for target in (0.01, 0.05, 0.1, 0.25):
        params = cls.setting_for_xi(target, shape)
        assert set(params) == {knob} and low <= params[knob] <= high
        got = cls(shape, **params).expected_xi()
        # no other value of the knob (a coarse scan) comes closer to the target
        values = range(int(low), int(high) + 1) if isinstance(params[knob], int) else \
            [low * (high / low) ** (i / 200) for i in range(201)]
        for v in values:
            try:
                other = cls(shape, **{knob: v}).expected_xi()
            except ValueError:
                continue
            assert abs(math.log(got / target)) <= abs(math.log(other / target)) + 1e-9, (name, target, v, other, got)


def test_setting_for_xi_hits_the_target_where_the_knob_is_fine():
    reg = registry()
    for name in ("adc", "topk", "randtopk", "random_token_pruning", "bottlenet"):
        for target in (0.01, 0.05, 0.1):
            got = reg[name](TINY, **reg[name].setting_for_xi(target, TINY)).expected_xi()
            assert got == pytest.approx(target, rel=0.05), (name, target, got)


def test_base_has_no_knob():
    with pytest.raises(ValueError, match="no compression knob"):
        registry()["base"].setting_for_xi(0.1, MICRO)


def test_pipeline_xi_levels_give_every_method_the_same_levels():
    config = {"datasets": ["digits"], "models": ["vit_micro"], "seeds": [0], "methods": ["base", "topk", "quantization"],
              "grid": "demo", "settings": {}, "xi": [0.025, 0.05, 0.1], "train": {"batch_size": 64}}
    runs = pipeline.expand_runs(config)
    by_method = {}
    for r in runs:
        by_method.setdefault(r.method, []).append(r.setting)
    assert by_method["base"] == ["default"]
    assert by_method["topk"] == ["r=0.02023", "r=0.04045", "r=0.081"]
    assert by_method["quantization"] == ["bits=1", "bits=2", "bits=3"]
    levels = pipeline.xi_level_of_runs(config)
    assert levels["results/runs/digits/vit_micro/topk/r=0.04045/seed0"] == 0.05
    assert levels["results/runs/digits/vit_micro/base/default/seed0"] == 0.025
    rc = pipeline.run_config(config, "digits", "vit_micro", "topk", "r=0.04045", 0)
    assert rc["params"] == {"r": 0.04045}


def test_two_levels_with_one_setting_share_one_run():
    config = {"datasets": ["digits"], "models": ["vit_micro"], "seeds": [0], "methods": ["quantization"],
              "grid": "demo", "settings": {}, "xi": [0.01, 0.025], "train": {"batch_size": 64}}
    assert [r.setting for r in pipeline.expand_runs(config)] == ["bits=1"]
    assert pipeline.xi_settings(config, "quantization")["bits=1"][1] == [0.01, 0.025]


def test_a_level_outside_0_1_is_one_clear_config_error():
    config = {"datasets": ["digits"], "models": ["vit_micro"], "seeds": [0], "methods": ["topk"], "xi": [0.1, 2]}
    with pytest.raises(pipeline.ConfigError, match=r"xi\[1\]: 2 is out of range"):
        pipeline.check_config(config)
