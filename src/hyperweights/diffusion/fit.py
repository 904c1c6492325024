"""Training D2NWG on a model zoo, and its evaluation on (unseen) tasks.

:func:`fit` runs the paper's three stages as one :func:`~hyperweights.training.train_loop` (one
progress bar, checkpoints and bit-identical resume across stages): ``vae_steps`` of the weight VAE,
``align_steps`` of the CLIP-style alignment of the dataset encoder with the frozen VAE's latents,
``diffusion_steps`` of the conditional latent diffusion with the encoder frozen. Each step draws a
batch of zoo members and, for stages 2-3, a fresh random support set from each member's task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..optim import make_optimizer
from ..targets import functional_forward
from ..training import FitResult, TrainConfig, config_field, train_loop
from ..zoo import TaskSet, ZooConfig, accuracy_after_steps, member_accuracy
from .model import D2NWG, schedulers

__all__ = ["DiffusionConfig", "ZooData", "fit", "evaluate", "generate_for_tasks", "support_sets"]


@dataclass
class DiffusionConfig(TrainConfig):
    """The three training stages of :class:`D2NWG` and its sampling at evaluation."""

    vae_steps: int = config_field(1000, "optimizer steps of the weight VAE (stage 1)")
    align_steps: int = config_field(500, "steps aligning the dataset encoder with the VAE latents (stage 2)")
    diffusion_steps: int = config_field(2000, "steps of the conditional latent diffusion (stage 3)")
    kl_weight: float = config_field(1e-2, "weight of the VAE's KL term (per weight, relative to the MSE)")
    input_noise: float = config_field(0.01, "Gaussian noise on the VAE's input tokens (augmentation)")
    functional_weight: float = config_field(
        0.0, "weight of the VAE's functional reconstruction loss: KL from the zoo model's to the "
             "decoded model's predictions on images of its task (0: weight-space MSE alone, as D2NWG)")
    functional_images: int = config_field(64, "training images per member for the functional loss")
    support_size: int = config_field(50, "(image, label) pairs per support set")
    uncond_prob: float = config_field(0.1, "probability of dropping the condition (classifier-free guidance)")
    guidance: float = config_field(2.0, "classifier-free guidance scale when sampling")
    sample_steps: int = config_field(50, "DDIM sampling steps")

    def validate(self) -> None:
        super().validate()
        for name in ("vae_steps", "align_steps", "diffusion_steps"):
            self.positive_int(name, allow_zero=True)
        self.positive_int("support_size")
        self.positive_int("sample_steps")
        self._require("kl_weight", self.kl_weight >= 0, ">= 0")
        self._require("input_noise", self.input_noise >= 0, ">= 0")
        self._require("functional_weight", self.functional_weight >= 0, ">= 0")
        self.positive_int("functional_images")
        self._require("uncond_prob", 0 <= self.uncond_prob < 1, "in [0, 1)")

    @property
    def total_steps(self) -> int:
        return self.vae_steps + self.align_steps + self.diffusion_steps


@dataclass
class ZooData:
    """A trained zoo as D2NWG's training data: ``weights {name: (M, *shape)}``, the task of every
    member ``task_ids: (M,)`` and the tasks themselves (for support sets)."""

    weights: dict[str, Tensor]
    task_ids: Tensor
    tasks: TaskSet

    def __post_init__(self):
        self.task_ids = torch.as_tensor(self.task_ids, dtype=torch.long).reshape(-1)
        counts = {tuple(w.shape[:1]) for w in self.weights.values()}
        if counts != {(len(self.task_ids),)}:
            raise ValueError(f"ZooData needs one task id per member: {len(self.task_ids)} ids, weights "
                             f"with leading sizes {sorted(counts)}")
        ids = self.task_ids
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(self.tasks)):
            raise ValueError(f"task ids must be in 0..{len(self.tasks) - 1}")


def support_sets(tasks: TaskSet, task_ids: Tensor, size: int, generator: torch.Generator):
    """Random support sets of ``size`` training pairs from each task: ``(B, N, D)``, ``(B, N)``."""
    rows = torch.randint(0, tasks.train_index.shape[1], (len(task_ids), size), generator=generator)
    return tasks.train_batch(task_ids, rows)


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()


def _functional_loss(model: D2NWG, weights: dict[str, Tensor], decoded: Tensor, x: Tensor) -> Tensor:
    """KL from the predictions of the zoo models ``weights {name: (B, *shape)}`` to those of their
    decoded tokens ``(B, T, S)``, on ``x: (B, N, D)`` images of each model's task (a mean per image)."""
    with torch.no_grad():
        teacher = functional_forward(model.target, weights, x).log_softmax(-1)      # (B, N, C)
    student = functional_forward(model.target, model.weights_from_tokens(decoded), x).log_softmax(-1)
    return F.kl_div(student.flatten(0, 1), teacher.flatten(0, 1), log_target=True, reduction="batchmean")


def fit(model: D2NWG, data: ZooData, config: DiffusionConfig) -> FitResult:
    """Train the VAE, align the encoder, train the diffusion model (see the module docstring).

    Example:
        >>> import hyperweights as hw
        >>> from hyperweights.data import Split
        >>> from hyperweights.zoo import class_subset_tasks, init_members
        >>> split = Split(torch.randn(60, 4), torch.arange(60) % 3, torch.randn(30, 4), torch.arange(30) % 3)
        >>> tasks = class_subset_tasks(split, 2, train_per_class=10, test_per_class=5)
        >>> target = hw.mlp([4, 3, 2])
        >>> data = ZooData(init_members(target, range(6)), torch.arange(6) % 3, tasks)
        >>> model = D2NWG(target, 4, 2, token_size=8, latent_dim=2, vae_dim=16, vae_layers=1,
        ...               cond_dim=8, encoder_hidden=16, denoiser_width=32)
        >>> cfg = DiffusionConfig(vae_steps=3, align_steps=2, diffusion_steps=3, batch_size=4,
        ...                       support_size=5, progress=False)
        >>> fit(model, data, cfg).steps
        8
    """
    config.validate()
    if not isinstance(model, D2NWG) or not isinstance(data, ZooData):
        raise TypeError(f"fit(model, data, config) takes a D2NWG and a ZooData; got "
                        f"{type(model).__name__}, {type(data).__name__}")
    shape = (data.tasks.num_features, data.tasks.num_classes)
    if shape != (model.config["num_features"], model.config["num_classes"]):
        raise ValueError(f"the model is built for {model.config['num_features']} features and "
                         f"{model.config['num_classes']} classes; the tasks have {data.tasks.num_features} "
                         f"and {data.tasks.num_classes}")
    device = torch.device(config.device)
    model.to(device).train()
    flat = model.layout.table.flatten(data.weights).to(device)
    if not config.resume:
        model.set_normalization(flat)
    members, batch = len(data.task_ids), config.batch_size
    valid = model.layout.valid.to(device)
    ddpm, _ = schedulers(model.config["timesteps"])
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    first_align, first_diffusion = config.vae_steps, config.vae_steps + config.align_steps
    cache: dict[str, Tensor] = {}

    def latents() -> Tensor:                       # the frozen VAE's latent means, computed once
        if "raw" not in cache:
            with torch.no_grad():
                tokens = model.tokens({n: w.to(device) for n, w in data.weights.items()})
                cache["raw"] = torch.cat([model.vae.encode(part)[0].flatten(1) for part in tokens.split(256)])
        return cache["raw"]

    def supports(picked: Tensor):
        x, y = support_sets(data.tasks, data.task_ids[picked], config.support_size, gen)
        return x.to(device), y.to(device)

    def step(i: int) -> Tensor:
        picked = torch.randint(0, members, (batch,), generator=gen)
        if i < first_align:                                              # stage 1: VAE
            weights = {n: w[picked].to(device) for n, w in data.weights.items()}
            decoded, loss = model.vae.reconstruct(model.tokens(weights), valid, config.kl_weight,
                                                  config.input_noise)
            if not config.functional_weight:
                return loss
            x, _ = support_sets(data.tasks, data.task_ids[picked], config.functional_images, gen)
            return loss + config.functional_weight * _functional_loss(model, weights, decoded, x.to(device))
        if i < first_diffusion:                                          # stage 2: CLIP-style
            same = (data.task_ids[picked][:, None] == data.task_ids[picked][None]).float().to(device)
            weights_code = F.normalize(model.latent_projection(latents()[picked.to(device)]), dim=-1)
            data_code = F.normalize(model.dataset_embedding(*supports(picked)), dim=-1)
            logits = data_code @ weights_code.T * model.log_temperature.clamp(max=math.log(100)).exp()
            targets = same / same.sum(1, keepdim=True)
            return 0.5 * (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.T, targets))
        if i == first_diffusion:                                         # stage 3: diffusion
            model.latent_scale.copy_(1.0 / latents().std().clamp_min(1e-6))
        x0 = latents()[picked.to(device)] * model.latent_scale
        with torch.no_grad():
            cond = model.dataset_embedding(*supports(picked))
        drop = (torch.rand(batch, generator=gen) < config.uncond_prob).to(device)[:, None]
        cond = torch.where(drop, model.null_condition.expand_as(cond), cond)
        t = torch.randint(0, model.config["timesteps"], (batch,), generator=gen).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        return F.mse_loss(model.denoiser(ddpm.add_noise(x0, noise, t), t, cond), noise)

    return train_loop(step, make_optimizer(model.parameters(), config.lr), config,
                      total_steps=config.total_steps, model=model, generators=[gen],
                      settings={**config.settings(), "model": {k: v for k, v in model.config.items()}},
                      desc="D2NWG")


def generate_for_tasks(model: D2NWG, tasks: TaskSet, *, samples: int = 10, support_size: int = 50,
                       guidance: float = 2.0, sample_steps: int = 50, seed: int = 0):
    """Generate ``samples`` weight sets for every task of ``tasks`` in one batched sampling call.

    Returns:
        ``(best {name: (T, *shape)}, every {name: (T * K, *shape)}, support_accuracy (T, K))``: the
        best of each task's ``K`` sets by accuracy on its support set, all sets (task-major), and
        their support accuracies.
    """
    gen = torch.Generator().manual_seed(seed)
    device = model.weight_mean.device
    every_task = torch.arange(len(tasks))
    x, y = support_sets(tasks, every_task, support_size, gen)
    x, y = x.to(device), y.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            cond = model.dataset_embedding(x, y).repeat_interleave(samples, 0)        # (T * K, c)
            weights = model.decode_latents(model.sample_latents(
                cond, guidance=guidance, sample_steps=sample_steps, seed=seed))
    finally:
        model.train(was_training)
    scores = member_accuracy(model.target, weights, x.repeat_interleave(samples, 0),
                             y.repeat_interleave(samples, 0)).view(len(tasks), samples)
    pick = every_task * samples + scores.argmax(1).cpu()
    return {n: w[pick.to(w.device)] for n, w in weights.items()}, weights, scores


def evaluate(model: D2NWG, tasks: TaskSet, *, samples: int = 10, finetune_steps=(0,), support_size: int = 50,
             guidance: float = 2.0, sample_steps: int = 50, seed: int = 0,
             finetune: ZooConfig | None = None) -> dict[str, float]:
    """Mean test accuracy over ``tasks`` of the best-of-``samples`` generated weights (chosen on
    a support set) after each fine-tuning budget, and of all generated sets without fine-tuning.

    Returns:
        ``{"accuracy_<steps>": ..., "mean_sample_accuracy": ..., "support_accuracy": ...}``.

    Example:
        >>> import hyperweights as hw
        >>> from hyperweights.data import Split
        >>> from hyperweights.zoo import class_subset_tasks
        >>> split = Split(torch.randn(60, 4), torch.arange(60) % 3, torch.randn(30, 4), torch.arange(30) % 3)
        >>> tasks = class_subset_tasks(split, 2, train_per_class=10, test_per_class=5)
        >>> model = D2NWG(hw.mlp([4, 3, 2]), 4, 2, token_size=8, latent_dim=2, vae_dim=16,
        ...               vae_layers=1, cond_dim=8, encoder_hidden=16, denoiser_width=32)
        >>> sorted(evaluate(model, tasks, samples=2, support_size=5, sample_steps=3))
        ['accuracy_0', 'mean_sample_accuracy', 'support_accuracy']
    """
    best, every, scores = generate_for_tasks(model, tasks, samples=samples, support_size=support_size,
                                             guidance=guidance, sample_steps=sample_steps, seed=seed)
    ids = torch.arange(len(tasks))
    curve = accuracy_after_steps(model.target, tasks, ids, best, finetune_steps,
                                 finetune or ZooConfig(progress=False, device=str(model.weight_mean.device)))
    sampled = member_accuracy(model.target, every, *[t.to(model.weight_mean.device) for t in
                                                     tasks.test_batch(ids.repeat_interleave(samples))])
    return {**{f"accuracy_{s}": float(a.mean()) for s, a in curve.items()},
            "mean_sample_accuracy": float(sampled.mean()), "support_accuracy": float(scores.max(1).values.mean())}
