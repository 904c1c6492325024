"""The Flower app of hyperweights.federated (the apps live in :mod:`hyperweights.federated.flower`)."""
