"""Federated hypernetworks: HyperFL, pFedHN and their baselines, in process and on Flower.

- :func:`partition` (HyperFL's non-IID ``"s"`` scheme, pFedHN's ``"classes"`` per client, ``"iid"``)
  -> :class:`FederatedData` (every client's rows stacked ``(C, N, D)``).
- Methods on the HyperFL CNN: :class:`FedAvg`, :class:`Local`, :class:`HyperFL`,
  :class:`HyperFLLPM`, :class:`PFedHN`, :class:`PFedHNPC` (:func:`build_method` by name).
- :func:`fit` the in-process reference loop (:class:`FederatedConfig`), :func:`evaluate`.
- :class:`ClientState` a client's private state for ``hw.save`` / ``hw.load``.
- :func:`inverting_gradients`, :func:`deep_leakage` gradient-inversion attacks on what a client
  sends (:mod:`hyperweights.federated.attacks`).
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

from .attacks import Reconstruction as Reconstruction
from .attacks import cosine_gradient_distance as cosine_gradient_distance
from .attacks import deep_leakage as deep_leakage
from .attacks import infer_labels as infer_labels
from .attacks import inverting_gradients as inverting_gradients
from .attacks import l2_gradient_distance as l2_gradient_distance
from .attacks import per_example_gradients as per_example_gradients
from .attacks import reconstruction_quality as reconstruction_quality
from .attacks import total_variation as total_variation
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
           "Reconstruction", "Schedule", "build_method", "check_update",
           "cosine_gradient_distance", "deep_leakage", "evaluate", "fit", "infer_labels",
           "inverting_gradients", "l2_gradient_distance", "partition", "payload_bytes",
           "per_example_gradients", "reconstruction_quality", "total_variation"]
