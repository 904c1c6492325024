"""The weight-diffusion rows of the generated docs tables (see :mod:`benchmarks.tables`); the
tables themselves are built by :mod:`benchmarks.diffusion.report`."""

from __future__ import annotations

from benchmarks.diffusion import report
from benchmarks.tables import Context

RESULT = "diffusion/diffusion_fashion_mnist.json"
MNIST5K = "diffusion/diffusion_mnist5k.json"


def headline(ctx: Context) -> str:
    return report.headline(ctx.load(RESULT))


def _tables(data: dict) -> str:
    return report.accuracy_table(data) + "\n\n" + report.extras_table(data)


def diffusion(ctx: Context) -> str:
    return _tables(ctx.load(RESULT))


def diffusion_mnist5k(ctx: Context) -> str:
    return _tables(ctx.load(MNIST5K))


def diffusion_configs(ctx: Context) -> str:
    return report.configs_table(ctx.results)


def diffusion_mnist5k_configs(ctx: Context) -> str:
    return report.configs_table(ctx.results, report.MNIST5K_CONFIGS)


HEADLINE = ("weights as data (D2NWG, model zoos)", "hyperweights.diffusion, hyperweights.zoo",
            "docs/diffusion.md", headline)
TABLES: dict = {"diffusion": diffusion, "diffusion-mnist5k": diffusion_mnist5k,
                "diffusion-configs": diffusion_configs, "diffusion-mnist5k-configs": diffusion_mnist5k_configs}
