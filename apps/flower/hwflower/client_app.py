"""ClientApp: ``partition-id`` / ``num-partitions`` from the node config, the rest from the run config."""

from hyperweights.federated.flower import client_app as app

__all__ = ["app"]
