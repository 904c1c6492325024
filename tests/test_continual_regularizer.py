"""The batched output regularizer equals the per-task loop formula (hypnettorch's
calc_fix_target_reg) in every mode: stored/snapshot targets, subsets, masks, Fisher, look-ahead."""

import copy

import pytest
import torch

import hyperweights as hw
from hyperweights.continual import OutputRegularizer, head_masks, output_penalty
from hyperweights.continual.regularizer import adam_lookahead


def _hnet(tasks=6, seed=0):
    torch.manual_seed(seed)
    target = hw.mlp((12, 10, 6))
    return hw.HyperNetwork(target, condition=hw.TaskEmbedding(tasks, 8), trunk=hw.MLP((16,)),
                           head=hw.ChunkedHead(50, 4))


def _perturb(hnet):
    with torch.no_grad():
        for p in hnet.parameters():
            p.add_(0.05 * torch.randn_like(p))


def _loop_reference(hnet, targets, ids, mask=None, fisher=None):
    """hypnettorch's formula, one hypernetwork call per earlier task (the thing we replace)."""
    total = 0.0
    for j in ids.tolist():
        w = hnet.flat(j)[0]
        d = (targets[j] - w) ** 2
        if mask is not None:
            d = d * mask[j]
        if fisher is not None:
            d = d * fisher[j]
        total = total + d.sum()
    return total / len(ids)


@pytest.mark.parametrize("mode", ["stored", "snapshot"])
def test_batched_equals_per_task_loop(mode):
    hnet = _hnet()
    with torch.no_grad():
        before = hnet.flat(torch.arange(6)).clone()
    reg = OutputRegularizer(hnet, 6, mode=mode)
    reg.protect(4)
    _perturb(hnet)
    ids = torch.arange(4)
    got = reg()
    want = _loop_reference(hnet, before, ids)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert got > 0
    # gradients agree too
    g1 = torch.autograd.grad(reg(), list(hnet.parameters()), allow_unused=True)
    g2 = torch.autograd.grad(_loop_reference(hnet, before, ids), list(hnet.parameters()), allow_unused=True)
    for a, b in zip(g1, g2):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_subset_mask_and_fisher_match_the_loop():
    hnet = _hnet()
    classes = torch.tensor([[0, 1], [2, 3], [4, 5], [0, 1], [2, 3], [4, 5]])
    mask = head_masks(hnet.specs, classes, "2.weight", "2.bias")
    with torch.no_grad():
        before = hnet.flat(torch.arange(6)).clone()
    gen = torch.Generator().manual_seed(3)
    reg = OutputRegularizer(hnet, 6, subset=2, mask=mask, fisher=True, generator=gen)
    fisher = torch.rand(6, hnet.specs.total)
    for t in range(6):
        reg.set_fisher(t, fisher[t])
    reg.protect(5)
    _perturb(hnet)
    ids = reg.sample_ids()
    assert len(ids) == 2 and len(set(ids.tolist())) == 2 and int(ids.max()) < 5
    torch.testing.assert_close(reg(ids), _loop_reference(hnet, before, ids, mask.float(), fisher),
                               rtol=1e-5, atol=1e-6)
    # the mask removes exactly the other tasks' output rows: 2 rows x (10 + 1) scalars kept of 6
    s_w, s_b = hnet.specs["2.weight"], hnet.specs["2.bias"]
    assert int((~mask[0]).sum()) == 4 * (s_w.numel // 6 + s_b.numel // 6)


def test_snapshot_memory_is_parameters_not_outputs():
    hnet = _hnet(tasks=6)
    stored = OutputRegularizer(hnet, 6, mode="stored")
    snap = OutputRegularizer(hnet, 6, mode="snapshot")
    n_stored = sum(b.numel() for b in stored.buffers())
    n_snap = sum(b.numel() for b in snap.buffers())
    assert n_stored >= 6 * hnet.specs.total
    assert n_snap <= sum(p.numel() for p in hnet.parameters()) + 1


def test_lookahead_evaluates_at_shifted_parameters():
    hnet = _hnet()
    with torch.no_grad():
        before = hnet.flat(torch.arange(6)).clone()
    reg = OutputRegularizer(hnet, 6)
    reg.protect(3)
    opt = torch.optim.Adam(hnet.parameters(), lr=1e-2)
    loss = hnet.flat(3).square().mean()
    params = dict(hnet.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    delta = adam_lookahead(opt, {p: g for p, g in zip(params.values(), grads) if g is not None})
    shifted = {n: p + delta[p] if p in delta else p for n, p in params.items()}
    got = reg(params=shifted)
    moved = copy.deepcopy(hnet)
    with torch.no_grad():
        for (n, p), q in zip(params.items(), moved.parameters()):
            if p in delta:
                q.add_(delta[p])
    torch.testing.assert_close(got, _loop_reference(moved, before, torch.arange(3)), rtol=1e-5, atol=1e-6)
    # the real Adam step from the same gradients lands where the look-ahead said
    for p, g in zip(params.values(), grads):
        p.grad = g
    opt.step()
    for p in delta:
        torch.testing.assert_close(p.detach(), shifted[[n for n, q in params.items() if q is p][0]].detach(),
                                   rtol=1e-5, atol=1e-6)


def test_equals_hypnettorch_calc_fix_target_reg():
    pytest.importorskip("matplotlib")
    hnets = pytest.importorskip("hypnettorch.hnets")
    from hypnettorch.utils.hnet_regularizer import calc_fix_target_reg, get_current_targets
    torch.manual_seed(0)
    shapes = [[10, 12], [10], [6, 10], [6]]
    hnet = hnets.ChunkedHMLP(shapes, chunk_size=40, chunk_emb_size=4, cond_in_size=8, layers=(16,),
                             num_cond_embs=6, verbose=False)
    targets = get_current_targets(5, hnet)
    with torch.no_grad():
        for p in hnet.internal_params:
            p.add_(0.05 * torch.randn_like(p))
    theirs = calc_fix_target_reg(hnet, 5, targets=targets)
    stored = torch.stack([torch.cat([t.flatten() for t in ts]) for ts in targets])
    current = hnet.forward(cond_id=list(range(5)), ret_format="flattened")   # one batched call
    torch.testing.assert_close(output_penalty(current, stored), theirs, rtol=1e-5, atol=1e-7)


def test_bad_arguments_are_clear_errors():
    hnet = _hnet()
    with pytest.raises(ValueError, match="mode"):
        OutputRegularizer(hnet, 6, mode="online")
    with pytest.raises(ValueError, match="subset"):
        OutputRegularizer(hnet, 6, subset=0)
    with pytest.raises(ValueError, match="mask"):
        OutputRegularizer(hnet, 6, mask=torch.ones(3, 3, dtype=torch.bool))
    reg = OutputRegularizer(hnet, 6)
    with pytest.raises(IndexError, match="protect"):
        reg.protect(7)
    assert reg().item() == 0.0        # nothing protected yet


@pytest.mark.parametrize("lookahead", [False, True])
def test_hnet_step_moves_only_the_current_task_embedding(lookahead):
    """von Oswald et al.: only the current task's embedding is optimised; earlier (and later)
    rows stay constant although the regularizer's gradient reaches the earlier ones."""
    from hyperweights.continual import HNET
    torch.manual_seed(0)
    learner = HNET(hw.mlp((6, 8, 4)), torch.tensor([[0, 1], [2, 3], [0, 1], [2, 3]]), emb_dim=5,
                   trunk=hw.MLP((12,)), head=hw.ChunkedHead(40, 4), beta=1.0, lookahead=lookahead)
    x, y = torch.rand(8, 6), torch.randint(0, 2, (8,))
    for task in range(2):
        learner.begin_task(task)
        learner.step(task, x, y)
    learner.begin_task(2)
    before = learner.hnet.condition.weight.detach().clone()
    shared = learner.hnet.trunk.first_cond.weight.detach().clone()
    for _ in range(3):
        learner.step(2, x, y)
    after = learner.hnet.condition.weight.detach()
    assert torch.equal(after[[0, 1, 3]], before[[0, 1, 3]])
    assert not torch.equal(after[2], before[2])
    assert not torch.equal(learner.hnet.trunk.first_cond.weight, shared)


def test_train_past_embeddings_option_moves_the_earlier_rows():
    from hyperweights.continual import HNET
    torch.manual_seed(0)
    learner = HNET(hw.mlp((6, 8, 4)), [[0, 1], [2, 3], [0, 1]], emb_dim=5, trunk=hw.MLP((12,)),
                   head=hw.ChunkedHead(40, 4), beta=1.0, train_past_embeddings=True)
    x, y = torch.rand(8, 6), torch.randint(0, 2, (8,))
    for task in range(2):
        learner.begin_task(task)
        learner.step(task, x, y)
    before = learner.hnet.condition.weight.detach().clone()
    learner.step(1, x, y)
    assert not torch.equal(learner.hnet.condition.weight[0], before[0])    # the regularizer moved it
    assert learner.config()["train_past_embeddings"] is True
