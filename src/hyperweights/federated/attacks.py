"""Gradient-inversion attacks on what a federated client sends, and how well they reconstruct.

An honest-but-curious server sees a client's gradient (or one-step update) and searches for the
input that produces it. Two attacks, both run on ``N`` images at once (one client each; every
image's objective is independent, their sum is optimised in one batched call):

- :func:`inverting_gradients` (Geiping, Bauermeister, Dröge, Moeller, "Inverting Gradients - How
  easy is it to break privacy in federated learning?", NeurIPS 2020): cosine distance between the
  dummy's gradient and the observed one, plus total variation, Adam on the signed gradient with
  the learning rate divided by 10 at 3/8, 5/8 and 7/8 of the steps, the image clamped to the data
  range after every step ("boxed"); the label known or inferred with iDLG's rule
  (:func:`infer_labels`).
- :func:`deep_leakage` (Zhu, Liu, Han, "Deep Leakage from Gradients", NeurIPS 2019): squared L2
  distance between the gradients, L-BFGS over the dummy image and (unless the labels are given, as
  in iDLG) a dummy soft label.

What is attacked is given as a function ``gradient(x, y, unknowns) -> {name: (N, ...)}``: the
per-image gradient of what the client sends, differentiable in the dummy images ``x (N, *shape)``,
soft labels ``y (N, C)`` and any ``unknowns`` (private client state the attacker does not know and
optimises with the image, e.g. HyperFL's client embedding and head). :func:`per_example_gradients`
builds it from a per-example loss with ``torch.func`` (``vmap`` of ``grad``).

Quality: :func:`reconstruction_quality` returns PSNR and SSIM per image from torchmetrics
(``torchmetrics.functional.image.peak_signal_noise_ratio`` and
``structural_similarity_index_measure``: Gaussian 11x11 window, sigma 1.5; its SSIM differs from
scikit-image's in the third decimal).

Deviations from the papers: the dummy image starts uniform in the data range (Geiping start from
a standard normal in normalised space; here images live in ``[0, 1]``); one restart; the batched
L-BFGS of :func:`deep_leakage` shares its line search and curvature history across the ``N``
images (Zhu et al. run one image at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int, check_real, describe

__all__ = ["Reconstruction", "cosine_gradient_distance", "deep_leakage", "infer_labels",
           "inverting_gradients", "l2_gradient_distance", "per_example_gradients",
           "reconstruction_quality", "signed_adam", "total_variation"]

#: ``gradient(x (N, *shape), y (N, C), unknowns) -> {name: (N, ...)}``
GradientFn = Callable[[Tensor, Tensor, Sequence[Tensor]], Mapping[str, Tensor]]


@dataclass
class Reconstruction:
    """What an attack returns.

    Attributes:
        images: ``(N, *shape)`` the reconstructed inputs (clamped to the data range).
        labels: ``(N,)`` the labels used (given, inferred, or the argmax of DLG's soft labels).
        distance: ``(N,)`` the final gradient distance of each image (cosine for
            :func:`inverting_gradients`, squared L2 for :func:`deep_leakage`).
        unknowns: the attacker's final estimates of the unknown client state.
        history: the mean objective, recorded every ``steps // 20`` steps.
    """

    images: Tensor
    labels: Tensor
    distance: Tensor
    unknowns: list[Tensor] = field(default_factory=list)
    history: list[float] = field(default_factory=list)


# ------------------------------------------------------------------ the pieces
def total_variation(x: Tensor) -> Tensor:
    """Anisotropic total variation per image: the mean absolute difference of vertically and of
    horizontally neighbouring pixels, summed: ``x (N, C, H, W) -> (N,)``.

    Example:
        >>> x = torch.zeros(2, 1, 4, 4); x[1, :, :, 2:] = 1.0     # image 1: one vertical edge
        >>> total_variation(x)
        tensor([0.0000, 0.3333])
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"total_variation needs images (N, C, H, W), got {describe(x)}")
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dx + dy


def _pairs(dummy: Mapping[str, Tensor], observed: Mapping[str, Tensor]):
    return [(dummy[k].flatten(1), observed[k].flatten(1)) for k in observed]


def cosine_gradient_distance(dummy: Mapping[str, Tensor], observed: Mapping[str, Tensor]) -> Tensor:
    """``1 - cos`` between two per-image gradients taken whole (all tensors as one vector, as
    Geiping et al. do): ``{name: (N, ...)}`` twice -> ``(N,)``, 0 when they point the same way.

    Example:
        >>> g = {"w": torch.tensor([[1.0, 0.0], [1.0, 1.0]]), "b": torch.tensor([[0.0], [0.0]])}
        >>> h = {"w": torch.tensor([[2.0, 0.0], [1.0, -1.0]]), "b": torch.tensor([[0.0], [0.0]])}
        >>> cosine_gradient_distance(g, h)
        tensor([0., 1.])
    """
    pairs = _pairs(dummy, observed)
    dot = sum((a * b).sum(1) for a, b in pairs)
    norm_a = sum(a.pow(2).sum(1) for a, _ in pairs).sqrt()
    norm_b = sum(b.pow(2).sum(1) for _, b in pairs).sqrt()
    return 1 - dot / (norm_a * norm_b).clamp_min(1e-12)


def l2_gradient_distance(dummy: Mapping[str, Tensor], observed: Mapping[str, Tensor]) -> Tensor:
    """Squared L2 distance between two per-image gradients (DLG's objective): ``(N,)``.

    Example:
        >>> l2_gradient_distance({"w": torch.ones(2, 3)}, {"w": torch.zeros(2, 3)})
        tensor([3., 3.])
    """
    return sum((a - b).pow(2).sum(1) for a, b in _pairs(dummy, observed))


def infer_labels(last_layer_gradient: Tensor) -> Tensor:
    """iDLG's rule (Zhao, Mopuri, Bilen 2020): under softmax cross-entropy the gradient of the last
    layer's bias is ``p - onehot(y)``, negative only at the true class, and so is every row of its
    weight gradient ``(p - onehot(y)) hᵀ`` when the features ``h`` are non-negative (after a ReLU).

    Args:
        last_layer_gradient: one image's-worth per row: the bias gradient ``(N, C)`` or the weight
            gradient ``(N, C, F)``.

    Returns:
        ``(N,)`` the class whose row sums lowest.

    Example:
        >>> infer_labels(torch.tensor([[0.2, -0.5, 0.3], [-0.9, 0.4, 0.5]]))
        tensor([1, 0])
    """
    if not isinstance(last_layer_gradient, Tensor) or last_layer_gradient.ndim not in (2, 3):
        raise ValueError("infer_labels needs the last layer's per-image bias gradient (N, C) or "
                         f"weight gradient (N, C, F), got {describe(last_layer_gradient)}")
    rows = last_layer_gradient if last_layer_gradient.ndim == 2 else last_layer_gradient.sum(-1)
    return rows.argmin(1)


def per_example_gradients(loss: Callable[..., Tensor], params: Mapping[str, Tensor]) -> GradientFn:
    """The per-image gradient of ``loss`` with respect to ``params``, batched with ``torch.func``.

    Args:
        loss: ``loss(params, x, y, *unknowns) -> scalar`` for ONE example: ``x (*shape)``, a soft
            label ``y (C,)`` and one example's slice of each unknown.
        params: the parameters whose gradient the client sends (the attacker's copy).

    Returns:
        ``gradient(x (N, *shape), y (N, C), unknowns) -> {name: (N, *param.shape)}``,
        differentiable in ``x``, ``y`` and the unknowns (so an attack can match it).

    Example:
        >>> w = {"w": torch.randn(3, 4)}
        >>> loss = lambda p, x, y: F.cross_entropy((p["w"] @ x)[None], y[None])
        >>> per_example_gradients(loss, w)(torch.randn(5, 4), torch.eye(3)[[0, 1, 2, 0, 1]], [])["w"].shape
        torch.Size([5, 3, 4])
    """
    fixed = {k: v.detach() for k, v in params.items()}
    grad = torch.func.grad(loss)

    def gradient(x: Tensor, y: Tensor, unknowns: Sequence[Tensor] = ()) -> dict[str, Tensor]:
        dims = (None, 0, 0, *(0 for _ in unknowns))
        return torch.func.vmap(grad, in_dims=dims)(fixed, x, y, *unknowns)

    return gradient


def reconstruction_quality(reconstructed: Tensor, original: Tensor,
                           data_range: tuple[float, float] = (0.0, 1.0)) -> dict[str, Tensor]:
    """PSNR (dB) and SSIM of each reconstruction, from torchmetrics: ``(N, C, H, W)`` twice ->
    ``{"psnr": (N,), "ssim": (N,)}`` (SSIM: Gaussian window 11, sigma 1.5, shrunk to the image
    side for images smaller than 11 pixels).

    Example:
        >>> x = torch.rand(2, 1, 16, 16)
        >>> q = reconstruction_quality(x, x)
        >>> bool(q["ssim"].gt(0.99).all()), bool(q["psnr"].gt(60).all())
        (True, True)
    """
    try:
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
    except ImportError as err:
        raise ImportError("PSNR and SSIM need torchmetrics: pip install 'hyperweights[federated]'") from err
    for name, value in (("reconstructed", reconstructed), ("original", original)):
        if not isinstance(value, Tensor) or value.ndim != 4 or not value.is_floating_point():
            raise ValueError(f"{name} must be floating images (N, C, H, W), got {describe(value)}")
    if reconstructed.shape != original.shape:
        raise ValueError(f"reconstructed {tuple(reconstructed.shape)} and original "
                         f"{tuple(original.shape)} must have the same shape")
    lo, hi = data_range
    side = min(original.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)
    pred, target = reconstructed.detach().clamp(lo, hi), original.detach()
    psnr = peak_signal_noise_ratio(pred, target, data_range=(lo, hi), reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(pred, target, data_range=hi - lo, kernel_size=kernel,
                                               reduction="none")
    return {"psnr": psnr, "ssim": ssim}


# ------------------------------------------------------------------ the attacks
def _check_attack(gradient, observed, shape, num_classes, labels, unknowns, bounds, steps, lr):
    """Validate the public arguments; returns ``N`` and the labels as a long tensor (or None)."""
    if not callable(gradient):
        raise TypeError(f"gradient must be a function gradient(x, y, unknowns) -> dict, got {describe(gradient)}")
    if not isinstance(observed, Mapping) or not observed or \
            not all(isinstance(v, Tensor) and v.ndim >= 1 for v in observed.values()):
        raise TypeError("observed must be a non-empty dict {name: (N, ...) tensor} of the per-image "
                        f"gradients the client sent, got {describe(observed)}")
    sizes = {v.shape[0] for v in observed.values()}
    if len(sizes) != 1:
        raise ValueError(f"every observed gradient must have the same leading N (images), got {sorted(sizes)}")
    n = sizes.pop()
    if not all(torch.isfinite(v).all() for v in observed.values()):
        raise ValueError("observed gradients hold NaN or inf; an attack needs finite gradients")
    if not isinstance(shape, (tuple, list)) or not shape or \
            not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"shape must be one image's shape as a tuple of positive ints, e.g. (1, 28, 28), got {shape!r}")
    check_int(num_classes, "num_classes", "the attack", minimum=2)
    check_int(steps, "steps", "the attack")
    check_real(lr, "lr", "the attack", positive=True)
    if labels is not None:
        labels = torch.as_tensor(labels)
        per_client = tuple(labels.shape[1:])         # several images per client: shape (B, ...)
        if labels.dtype not in (torch.int32, torch.int64) or labels.ndim < 1 or labels.shape[0] != n or \
                per_client != tuple(shape[:len(per_client)]) or len(per_client) >= len(shape) or \
                (labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes)):
            raise ValueError(f"labels must be {n} class ids in 0..{num_classes - 1}: (N={n},) for one image per "
                             f"observed client, or (N, B) when shape is (B, *image), got {describe(labels)} "
                             f"for shape {tuple(shape)}")
    for u in unknowns:
        if not isinstance(u, Tensor) or u.ndim < 1 or u.shape[0] != n:
            raise ValueError(f"every unknown must be a tensor (N={n}, ...), one slice per image, got {describe(u)}")
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2 and bounds[0] < bounds[1]):
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    return n, (None if labels is None else labels.long())


def _check_keys(dummy: Mapping[str, Tensor], observed: Mapping[str, Tensor]) -> None:
    if set(dummy) != set(observed):
        raise ValueError("gradient(x, y, unknowns) returned tensors named differently from the observed "
                         f"ones: missing {sorted(set(observed) - set(dummy))}, extra "
                         f"{sorted(set(dummy) - set(observed))}")
    bad = [f"{k}: {tuple(dummy[k].shape)} vs observed {tuple(observed[k].shape)}"
           for k in observed if dummy[k].shape != observed[k].shape]
    if bad:
        raise ValueError("gradient(x, y, unknowns) does not match the observed shapes: " + "; ".join(bad))


def _start(n, shape, bounds, unknowns, optimize_unknowns, generator, device, dtype):
    lo, hi = bounds
    x = (torch.rand(n, *shape, generator=generator, dtype=dtype).to(device) * (hi - lo) + lo).requires_grad_()
    flags = [optimize_unknowns] * len(unknowns) if isinstance(optimize_unknowns, bool) else list(optimize_unknowns)
    if len(flags) != len(unknowns) or not all(isinstance(f, bool) for f in flags):
        raise ValueError(f"optimize_unknowns must be True/False or one bool per unknown ({len(unknowns)}), "
                         f"got {optimize_unknowns!r}")
    guesses = [u.detach().clone().requires_grad_(f) for u, f in zip(unknowns, flags)]
    return x, guesses


def inverting_gradients(gradient: GradientFn, observed: Mapping[str, Tensor], shape: Sequence[int],
                        labels: Tensor, *, num_classes: int, steps: int = 2000, lr: float = 0.1,
                        tv_weight: float = 1e-4, unknowns: Sequence[Tensor] = (),
                        optimize_unknowns: bool | Sequence[bool] = True, unknowns_lr: float | None = None,
                        bounds: tuple[float, float] = (0.0, 1.0),
                        generator: torch.Generator | None = None) -> Reconstruction:
    """Inverting Gradients (Geiping et al. 2020) on ``N`` clients at once (one image each, or
    ``B`` each when ``shape`` is ``(B, *image)``).

    Minimises ``1 - cos(gradient(x', y, u'), observed) + tv_weight * TV(x')`` per client with
    :func:`signed_adam` (Adam on the signed gradient, the learning rate divided by 10 at 3/8, 5/8
    and 7/8 of ``steps``, ``x'`` clamped to ``bounds`` after every step); TV is the mean over a
    client's images. ``observed`` may be anything the client sends that ``gradient`` models: a
    gradient, or the parameter change of several local steps (:mod:`~.multistep`).

    Args:
        gradient: the attacker's model of what the client sends (see :func:`per_example_gradients`).
        observed: what each client sent ``{name: (N, ...)}``.
        shape: one image's shape, e.g. ``(1, 28, 28)``, or ``(B, 1, 28, 28)`` for ``B`` per client.
        labels: ``(N,)`` the class of each image (known, or :func:`infer_labels` of the sent
            gradient); ``(N, B)`` with ``B`` images per client.
        num_classes: ``C``.
        steps, lr, tv_weight: the optimisation (Geiping et al.: Adam, lr 0.1).
        unknowns: starting guesses ``(N, ...)`` of client state the attacker does not know.
        optimize_unknowns: optimise them with the image (else they stay at the guesses); one
            bool for all, or one per unknown.
        unknowns_lr: their Adam learning rate (default ``lr``; signed steps move every entry by
            about this much, so it should be below the unknowns' scale).
        bounds: the data range the image is kept in.
        generator: seeds the dummy's start.

    Returns:
        a :class:`Reconstruction`.

    Raises:
        ValueError / TypeError: observed gradients that are empty, non-finite or of unequal
            ``N``; labels, unknowns, shape, steps, lr or bounds that do not fit; a ``gradient``
            whose output does not match ``observed``.

    Example:
        >>> net = torch.nn.Linear(4, 3)
        >>> params = dict(net.named_parameters())
        >>> def loss(p, x, y):
        ...     return F.cross_entropy(torch.func.functional_call(net, p, (x[None],)), y[None])
        >>> grad_of = per_example_gradients(loss, params)
        >>> x, y = torch.rand(2, 4), torch.tensor([0, 2])
        >>> sent = grad_of(x, F.one_hot(y, 3).float(), [])
        >>> rec = inverting_gradients(grad_of, sent, (4,), infer_labels(sent["bias"]), num_classes=3,
        ...                           steps=200, tv_weight=0.0, generator=torch.Generator().manual_seed(0))
        >>> rec.images.shape, bool((rec.images - x).abs().max() < 0.1)
        (torch.Size([2, 4]), True)
    """
    n, labels = _check_attack(gradient, observed, shape, num_classes, labels, unknowns, bounds, steps, lr)
    if labels is None:
        raise ValueError("inverting_gradients needs labels: the known classes, or infer_labels() of the "
                         "sent last-layer gradient")
    check_real(tv_weight, "tv_weight", "inverting_gradients")
    ref = next(iter(observed.values()))
    observed = {k: v.detach() for k, v in observed.items()}
    x, guesses = _start(n, shape, bounds, unknowns, optimize_unknowns, generator, ref.device, ref.dtype)
    y = F.one_hot(labels.to(ref.device), num_classes).to(ref.dtype)
    _check_keys(gradient(x.detach(), y, [g.detach() for g in guesses]), observed)
    image = tuple(shape[labels.ndim - 1:])           # one image's shape; the rest: images per client
    use_tv = tv_weight > 0 and len(image) == 3

    def objective() -> Tensor:
        distance = cosine_gradient_distance(gradient(x, y, guesses), observed)
        if not use_tv:
            return distance
        return distance + tv_weight * total_variation(x.reshape(-1, *image)).reshape(n, -1).mean(1)

    history = signed_adam(objective, x, [g for g in guesses if g.requires_grad], steps=steps, lr=lr,
                          unknowns_lr=unknowns_lr, bounds=bounds)
    with torch.no_grad():
        final = cosine_gradient_distance(gradient(x, y, guesses), observed)
    return Reconstruction(x.detach(), labels, final.detach(), [g.detach() for g in guesses], history)


def signed_adam(objective: Callable[[], Tensor], x: Tensor, others: Sequence[Tensor] = (), *, steps: int,
                lr: float = 0.1, unknowns_lr: float | None = None,
                bounds: tuple[float, float] = (0.0, 1.0)) -> list[float]:
    """Geiping et al.'s optimiser, in place on the dummy images ``x`` and the optimised unknowns
    ``others``: Adam on the signed gradient of ``objective().sum()``, the learning rate divided by
    10 at 3/8, 5/8 and 7/8 of ``steps``, ``x`` clamped to ``bounds`` after every step. Every
    attack that matches what a client sends (:func:`inverting_gradients`, whatever its
    ``gradient`` simulates) runs this one loop.

    Args:
        objective: ``() -> (N,)`` one value per client (independent: their sum optimises each).
        x: the dummy images (a leaf that requires grad); ``others``: the unknowns optimised too.
        steps, lr: the schedule; ``unknowns_lr``: the unknowns' learning rate (default ``lr``).
        bounds: the data range ``x`` is kept in.

    Returns:
        the mean objective every ``steps // 20`` steps (and at the last).

    Example:
        >>> x = torch.zeros(2, 3, requires_grad=True)
        >>> history = signed_adam(lambda: (x - 0.5).pow(2).sum(1), x, steps=40)
        >>> bool((x - 0.5).abs().max() < 0.05), len(history)
        (True, 21)
    """
    groups = [{"params": [x]}] + ([{"params": list(others), "lr": check_real(
        unknowns_lr if unknowns_lr is not None else lr, "unknowns_lr", "the attack", positive=True)}]
        if others else [])
    optimizer = torch.optim.Adam(groups, lr=lr)
    schedule = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[steps * 3 // 8, steps * 5 // 8, steps * 7 // 8], gamma=0.1)
    history, every = [], max(1, steps // 20)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        value = objective()
        value.sum().backward()                 # images independent: the sum optimises each
        for t in (x, *others):                 # Geiping et al.'s signed gradient
            t.grad.sign_()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(*bounds)
        if step % every == 0 or step == steps - 1:
            history.append(float(value.detach().mean()))
    return history


def deep_leakage(gradient: GradientFn, observed: Mapping[str, Tensor], shape: Sequence[int], *,
                 num_classes: int, labels: Tensor | None = None, steps: int = 100, lr: float = 1.0,
                 unknowns: Sequence[Tensor] = (), optimize_unknowns: bool | Sequence[bool] = True,
                 bounds: tuple[float, float] = (0.0, 1.0),
                 generator: torch.Generator | None = None) -> Reconstruction:
    """Deep Leakage from Gradients (Zhu et al. 2019) on ``N`` images at once.

    Minimises ``||gradient(x', softmax(l'), u') - observed||²`` with L-BFGS (``steps`` calls of
    ``LBFGS.step``, each up to 20 evaluations, as in DLG's code) over the dummy images ``x'``, the
    dummy label logits ``l'`` (unless ``labels`` are given: iDLG) and the optimised unknowns.
    The images are unconstrained during the search (as in DLG) and clamped to ``bounds`` at the end.

    Args: as :func:`inverting_gradients`; ``labels=None`` optimises soft labels.

    Returns:
        a :class:`Reconstruction` (``labels``: the given ones, or the argmax of the soft labels).

    Example:
        >>> net = torch.nn.Linear(4, 3)
        >>> params = dict(net.named_parameters())
        >>> def loss(p, x, y):
        ...     return F.cross_entropy(torch.func.functional_call(net, p, (x[None],)), y[None])
        >>> grad_of = per_example_gradients(loss, params)
        >>> x, y = torch.rand(2, 4), torch.tensor([0, 2])
        >>> sent = grad_of(x, F.one_hot(y, 3).float(), [])
        >>> rec = deep_leakage(grad_of, sent, (4,), num_classes=3, steps=5,
        ...                    generator=torch.Generator().manual_seed(0))
        >>> rec.labels.tolist(), bool((rec.images - x).abs().max() < 0.05)
        ([0, 2], True)
    """
    n, labels = _check_attack(gradient, observed, shape, num_classes, labels, unknowns, bounds, steps, lr)
    ref = next(iter(observed.values()))
    observed = {k: v.detach() for k, v in observed.items()}
    x, guesses = _start(n, shape, bounds, unknowns, optimize_unknowns, generator, ref.device, ref.dtype)
    if labels is None:
        logits = torch.randn(n, num_classes, generator=generator, dtype=ref.dtype).to(ref.device).requires_grad_()
        soft = lambda: logits.softmax(-1)                                   # noqa: E731
    else:
        logits, fixed = None, F.one_hot(labels.to(ref.device), num_classes).to(ref.dtype)
        soft = lambda: fixed                                                # noqa: E731
    _check_keys(gradient(x.detach(), soft().detach(), [g.detach() for g in guesses]), observed)
    trained = [x, *([logits] if logits is not None else []), *(g for g in guesses if g.requires_grad)]
    optimizer = torch.optim.LBFGS(trained, lr=lr)
    history, every = [], max(1, steps // 20)

    def closure():
        optimizer.zero_grad(set_to_none=True)
        objective = l2_gradient_distance(gradient(x, soft(), guesses), observed).sum()
        objective.backward()
        return objective.detach()

    for step in range(steps):
        value = optimizer.step(closure)
        if not torch.isfinite(value):          # L-BFGS diverged: keep the last finite iterate
            break
        if step % every == 0 or step == steps - 1:
            history.append(float(value) / n)
    with torch.no_grad():
        final = l2_gradient_distance(gradient(x, soft(), guesses), observed)
        used = labels if labels is not None else logits.argmax(-1)
    return Reconstruction(x.detach().clamp(*bounds), used, final.detach(),
                          [g.detach() for g in guesses], history)
