"""Options of the federated methods that the benchmark's grid uses."""

import pytest

from hyperweights.federated import HyperFL

SMALL = {"channels": (2, 4), "hidden": 8}


def test_hyperfl_hnet_options_reach_the_hypernetwork():
    default = HyperFL(cnn=SMALL, head="ChunkedHead", head_options={"chunk_size": 64})
    tuned = HyperFL(cnn=SMALL, head="ChunkedHead", head_options={"chunk_size": 64},
                    hnet_options={"init": "hyperfan_in", "feature_scale": 1.0})
    assert default.hnet.init == "target_stats" and default.hnet.feature_scale == pytest.approx(128 ** -0.5)
    assert tuned.hnet.init == "hyperfan_in" and tuned.hnet.feature_scale == 1.0
    # the same seed draws the same trunk: only the head's init and the feature scale differ
    assert (tuned.hnet.trunk.first_cond.weight == default.hnet.trunk.first_cond.weight).all()


def test_hyperfl_rejects_unknown_hnet_options():
    with pytest.raises(ValueError, match="hnet_options takes 'init' and 'feature_scale'"):
        HyperFL(cnn=SMALL, hnet_options={"trunk": None})
