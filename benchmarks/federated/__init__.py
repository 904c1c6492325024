"""``hyperweights bench federated``: HyperFL, pFedHN and baselines (see ``bench.py``)."""
