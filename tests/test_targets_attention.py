"""Generated weights for nn.MultiheadAttention and the Transformer layers: per sample (W == B) and
ensembles (K sets) equal each weight set's module run on its own (torch's fused fast path where it
applies), in values and gradients, and torch's batching fallback never runs (no warning)."""

import warnings

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hyperweights as hw
from hyperweights.targets.attention import vmappable_attention


def _encoder_stack():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


class SelfAttention(nn.Module):
    """MHA as people call it inside a model: query = key = value, no attention weights returned."""

    def __init__(self, **kwargs):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, **kwargs)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


CASES = {
    "mha_self": (lambda: SelfAttention(), 1),
    "mha_cross_kdim": (lambda: nn.MultiheadAttention(8, 2, kdim=6, vdim=4, batch_first=True), 3),
    "mha_bias_kv": (lambda: nn.MultiheadAttention(8, 4, add_bias_kv=True, batch_first=True), 3),
    "encoder_layer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 1),
    "encoder_layer_norm_first_gelu": (lambda: nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, activation="gelu", norm_first=True, batch_first=True), 1),
    "encoder_stack": (_encoder_stack, 1),
}


def _weights(module, sets, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: (p.detach() + 0.2 * torch.randn(sets, *p.shape, generator=g)).requires_grad_()
            for n, p in module.named_parameters()}


def _inputs(name, module, batch, steps=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, steps)
    q = torch.randn(*shape, 8, generator=g)
    if name == "mha_cross_kdim":
        return q, torch.randn(*shape, 6, generator=g), torch.randn(*shape, 4, generator=g)
    if name == "mha_bias_kv":
        return q, q, q
    return (q,)


def _output(out):
    return out[0] if isinstance(out, tuple) else out


def _per_sample(name, module, w, xs, i):
    xi = tuple(x[i:i + 1] for x in xs)
    return _output(functional_call(module, {n: t[i] for n, t in w.items()}, xi))


def _no_fallback(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    fallbacks = [str(c.message) for c in caught if "batching rule" in str(c.message)]
    assert not fallbacks, fallbacks
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_sample_weights_equal_each_samples_module_values_and_gradients(name):
    torch.manual_seed(0)
    make, _ = CASES[name]
    module = make().eval()            # eval: torch's reference takes its fused fast path
    batch = 3
    w = _weights(module, batch)
    xs = _inputs(name, module, batch)
    with torch.no_grad():             # no gradients: the fast path is what vmap would fall back on
        got = _output(_no_fallback(lambda: hw.functional_forward(module, w, *xs)))
        for i in range(batch):
            want = _per_sample(name, module, w, xs, i)
            torch.testing.assert_close(got[i:i + 1], want, atol=1e-5, rtol=1e-5)
    got = _output(_no_fallback(lambda: hw.functional_forward(module, w, *xs)))
    grads = torch.autograd.grad(got.square().sum(), list(w.values()))
    ref_loss = sum(_per_sample(name, module, w, xs, i).square().sum() for i in range(batch))
    for a, b in zip(grads, torch.autograd.grad(ref_loss, list(w.values()))):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_ensemble_weights_equal_each_members_module_values_and_gradients(name):
    make, _ = CASES[name]
    module = make().eval()
    members = 3
    w = _weights(module, members)
    xs = _inputs(name, module, 4)
    with torch.no_grad():
        got = _output(_no_fallback(lambda: hw.ensemble_forward(module, w, *xs)))
        for k in range(members):
            want = _output(functional_call(module, {n: t[k] for n, t in w.items()}, xs))
            torch.testing.assert_close(got[k], want, atol=1e-5, rtol=1e-5)
    got = _output(_no_fallback(lambda: hw.ensemble_forward(module, w, *xs)))
    grads = torch.autograd.grad(got.square().sum(), list(w.values()))
    ref_loss = sum(_output(functional_call(module, {n: t[k] for n, t in w.items()}, xs)).square().sum()
                   for k in range(members))
    for a, b in zip(grads, torch.autograd.grad(ref_loss, list(w.values()))):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_sequence_first_ensembles_work_and_sequence_first_per_sample_is_refused():
    module = nn.MultiheadAttention(8, 2).eval()                    # (T, B, E) layout
    w = _weights(module, 3)
    x = torch.randn(5, 3, 8)
    with torch.no_grad():
        got = _no_fallback(lambda: hw.ensemble_forward(module, w, x, x, x))[0]
        want = functional_call(module, {n: t[2] for n, t in w.items()}, (x, x, x))[0]
    torch.testing.assert_close(got[2], want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="batch_first=False"):
        hw.functional_forward(module, w, x, x, x)


def test_a_padding_mask_is_split_per_sample_with_the_inputs():
    module = _encoder_stack().eval()
    w = _weights(module, 3)
    x = torch.randn(3, 5, 8)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]])
    with torch.no_grad():
        got = _no_fallback(lambda: hw.functional_forward(module, w, x, None, pad))
        for i in range(3):
            want = functional_call(module, {n: t[i] for n, t in w.items()}, (x[i:i + 1], None, pad[i:i + 1]))
            keep = ~pad[i]
            torch.testing.assert_close(got[i, keep], want[0, keep], atol=1e-5, rtol=1e-5)


def test_a_hypernetwork_generates_a_transformer_layer_per_sample_in_training_mode():
    target = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(6, 4), generate=r"linear\d\.weight")
    model = hw.HyperModel(target, hnet)
    out = _no_fallback(lambda: model(torch.randn(6, 5, 8), torch.arange(6)))
    assert out.shape == (6, 5, 8)
    out.square().mean().backward()
    assert all(p.grad is not None for p in hnet.parameters())
    assert target.linear1.weight.grad is None and target.self_attn.in_proj_weight.grad is not None


class FailsAfterAttention(SelfAttention):
    def forward(self, x):
        assert not torch.backends.mha.get_fastpath_enabled()        # off while vmap runs
        return super().forward(x) @ torch.ones(3, 3)                # (.., 8) @ (3, 3): fails


def test_the_fast_path_setting_is_restored_also_after_an_error():
    module = FailsAfterAttention().eval()
    w = _weights(module, 2)
    assert torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(RuntimeError):
        hw.functional_forward(module, w, torch.randn(2, 5, 8))
    assert torch.backends.mha.get_fastpath_enabled()


def test_dropout_in_training_mode_is_refused_with_advice():
    module = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True).train()
    with pytest.raises(RuntimeError, match=r"dropout p=0\.1.*dropout=0\.0 or call target\.eval\(\)"):
        with vmappable_attention(module):
            pass
    assert torch.backends.mha.get_fastpath_enabled()


# ------------------------------------------------------------------ the explicit ensemble path
from hyperweights.targets.attention import explicit_ensemble_applies  # noqa: E402

EXPLICIT = {
    "mha_need_weights_per_head": (lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                                  {"need_weights": True, "average_attn_weights": False}, None),
    "mha_seq_first_masks": (lambda: nn.MultiheadAttention(8, 2, bias=False), {}, "masks"),
    "layer_only_linear1": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
                           {}, r"linear1\.weight"),
    "layer_seq_first_norm_first_no_bias": (lambda: nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, norm_first=True, bias=False), {}, r".*(norm|out_proj).*"),
    "stack_attention_and_final_norm": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 2, norm=nn.LayerNorm(8),
        enable_nested_tensor=False), {}, r"layers\.1\.self_attn\..*|norm\.bias"),
}


def _explicit_call(name, module, batch=4, steps=5):
    """The inputs (positional, keyword) of each case; masks are shared by all members."""
    g = torch.Generator().manual_seed(2)
    first = getattr(module, "batch_first", None)
    first = module.self_attn.batch_first if first is None and hasattr(module, "self_attn") else first
    first = module.layers[0].self_attn.batch_first if first is None else first
    x = torch.randn(*((batch, steps) if first else (steps, batch)), 8, generator=g)
    kwargs = dict(EXPLICIT[name][1])
    if isinstance(module, nn.MultiheadAttention):
        args = (x, x, x) if EXPLICIT[name][2] != "masks" else (x, torch.randn(3, batch, 8, generator=g),
                                                              torch.randn(3, batch, 8, generator=g))
        if EXPLICIT[name][2] == "masks":
            kwargs["key_padding_mask"] = torch.tensor([[False, True, False]] * batch)
            kwargs["attn_mask"] = torch.tensor([[False, False, True]] * steps)     # bool, like the padding
        return args, kwargs
    if name.startswith("stack"):
        kwargs["mask"] = nn.Transformer.generate_square_subsequent_mask(steps).isinf()  # bool, causal
        kwargs["src_key_padding_mask"] = torch.tensor([[False] * steps] * (batch - 1) + [[False] * 3 + [True] * 2])
    return (x,), kwargs


@pytest.mark.parametrize("name", sorted(EXPLICIT))
def test_the_explicit_ensemble_path_equals_each_members_module_values_and_gradients(name):
    torch.manual_seed(0)
    make, _, generate = EXPLICIT[name]
    module = make().eval()
    pattern = ".*" if generate in (None, "masks") else generate
    import re
    w = {n: t for n, t in _weights(module, 3).items() if re.fullmatch(pattern, n)}
    args, kwargs = _explicit_call(name, module)
    assert explicit_ensemble_applies(module, args, kwargs)
    own = [p for n, p in module.named_parameters() if n not in w]          # shared, trained too
    got = hw.ensemble_forward(module, w, *args, **kwargs)

    def member(k):
        return functional_call(module, {n: t[k] for n, t in w.items()}, args, kwargs)

    def flat(out):
        return [t for t in (out if isinstance(out, tuple) else (out,)) if t is not None]

    wanted = [flat(member(k)) for k in range(3)]
    for k in range(3):
        for a, b in zip(flat(got), wanted[k], strict=True):
            torch.testing.assert_close(a[k], b, atol=1e-5, rtol=1e-5)
    params = list(w.values()) + own
    loss = sum(t.square().sum() for t in flat(got))
    ref = sum(t.square().sum() for out in wanted for t in out)
    for a, b in zip(torch.autograd.grad(loss, params), torch.autograd.grad(ref, params)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_explicit_path_serves_the_plain_modules_and_vmap_the_rest():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = torch.randn(2, 5, 8)
    assert explicit_ensemble_applies(layer, (x,), {})
    assert not explicit_ensemble_applies(SelfAttention(), (x,), {})                # a user's module
    assert not explicit_ensemble_applies(nn.MultiheadAttention(8, 2, add_bias_kv=True), (x, x, x), {})
    assert not explicit_ensemble_applies(layer, (x[0],), {})                       # unbatched
    assert not explicit_ensemble_applies(layer, (x,), {"is_causal": True})         # causal, no mask
    with pytest.raises(RuntimeError, match="dropout p=0.1"):
        hw.ensemble_forward(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).train(),
                            {"linear1.bias": torch.zeros(2, 16)}, x)
