"""Federated hypernetworks: HyperFL, pFedHN and their baselines, in process and on Flower.

- :func:`partition` (HyperFL's non-IID ``"s"`` scheme, pFedHN's ``"classes"`` per client, ``"iid"``)
  -> :class:`FederatedData` (every client's rows stacked ``(C, N, D)``).
- Methods on the HyperFL CNN: :class:`FedAvg`, :class:`Local`, :class:`HyperFL`,
  :class:`HyperFLLPM`, :class:`PFedHN`, :class:`PFedHNPC` (:func:`build_method` by name).
- :func:`fit` the in-process reference loop (:class:`FederatedConfig`), :func:`evaluate`.
- :class:`ClientState` a client's private state for ``hw.save`` / ``hw.load``.
- :mod:`hyperweights.federated.flower` the Flower engine (the ``[federated]`` extra).

Example:
    >>> import torch
    >>> from hyperweights.data import Split
    >>> from hyperweights.federated import HyperFL, FederatedConfig, Schedule, fit, partition
    >>> x, y = torch.rand(300, 784), torch.arange(300) % 10
    >>> data = partition(Split(x, y, x, y), "s", 2, train_per_client=20, test_per_client=10)
    >>> run = fit(HyperFL(schedule=Schedule(epochs=1, batch_size=10)), data,
    ...           FederatedConfig(rounds=1, progress=False))
    >>> sorted(run.extra["private"])         # what never left the clients
    ['embedding', 'fc2.bias', 'fc2.weight']
"""

from .checks import check_update as check_update
from .cnn import AdaptedCNN as AdaptedCNN
from .cnn import HyperFLCNN as HyperFLCNN
from .methods import METHODS as METHODS
from .methods import FedAvg as FedAvg
from .methods import FederatedMethod as FederatedMethod
from .methods import HyperFL as HyperFL
from .methods import HyperFLLPM as HyperFLLPM
from .methods import Local as Local
from .methods import PFedHN as PFedHN
from .methods import PFedHNPC as PFedHNPC
from .methods import Schedule as Schedule
from .methods import build_method as build_method
from .methods import payload_bytes as payload_bytes
from .partition import FederatedData as FederatedData
from .partition import partition as partition
from .simulate import FederatedConfig as FederatedConfig
from .simulate import evaluate as evaluate
from .simulate import fit as fit
from .state import ClientState as ClientState

__all__ = ["METHODS", "AdaptedCNN", "ClientState", "FedAvg", "FederatedConfig", "FederatedData",
           "FederatedMethod", "HyperFL", "HyperFLCNN", "HyperFLLPM", "Local", "PFedHN", "PFedHNPC",
           "Schedule", "build_method", "check_update", "evaluate", "fit", "partition", "payload_bytes"]
