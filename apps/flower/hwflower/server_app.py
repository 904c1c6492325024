"""ServerApp: settings from the run config (``[tool.flwr.app.config]`` of ``pyproject.toml``)."""

from hyperweights.federated.flower import server_app as app

__all__ = ["app"]
