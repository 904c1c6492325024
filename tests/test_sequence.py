"""HyperLSTM: the paper's initialisation, dynamic weights, the layer, the char-LM recipe."""

import math

import pytest
import torch
import torch.nn.functional as F

import hyperweights as hw
from hyperweights.sequence import (CharLM, HyperLSTM, HyperLSTMCell, LayerNormLSTMCell,
                                   SequenceConfig, evaluate, fit)


def _cells(layer_norm=True):
    torch.manual_seed(0)
    hyper = HyperLSTMCell(3, 6, hyper_size=5, embedding_size=4, layer_norm=layer_norm)
    plain = LayerNormLSTMCell(3, 6, layer_norm=layer_norm)
    with torch.no_grad():                         # the plain cell with the scalings 0.1 folded in
        plain.w_x.weight.copy_(0.1 * hyper.w_x.weight)
        plain.w_h.weight.copy_(0.1 * hyper.w_h.weight)
        if plain.bias is not None:                # without layer norm (with it, the norm's shift)
            plain.bias.copy_(hyper.bias)
    return hyper, plain


@pytest.mark.parametrize("layer_norm", [True, False])
def test_at_the_papers_initialisation_every_scaling_is_0_1_and_the_dynamic_bias_0(layer_norm):
    hyper, plain = _cells(layer_norm)
    x = torch.randn(4, 7, 3)
    s_h, s_p = None, None
    for t in range(7):
        s_h = hyper(x[:, t], s_h)
        s_p = plain(x[:, t], s_p)
        torch.testing.assert_close(s_h[0], s_p[0])
        torch.testing.assert_close(s_h[1], s_p[1])


def test_the_scalings_change_along_the_sequence_once_trained_away_from_init():
    hyper, plain = _cells()
    with torch.no_grad():
        hyper.to_z.weight.normal_(std=0.5)
    x = torch.randn(4, 7, 3)
    s_h, s_p = None, None
    diffs = []
    for t in range(7):
        s_h, s_p = hyper(x[:, t], s_h), plain(x[:, t], s_p)
        diffs.append((s_h[0] - s_p[0]).abs().max().item())
    assert max(diffs) > 1e-3                      # the weights are no longer the static 0.1 set


def _grads(layer):
    layer.zero_grad()
    out, _ = layer(torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(0)))
    out.square().sum().backward()
    return {n: p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in layer.named_parameters()}


def test_gradients_reach_the_main_and_the_hyper_weights():
    layer = HyperLSTM(3, 6, hyper_size=5, embedding_size=4)
    at_init = _grads(layer)
    # at the paper's init the hyper cell's output reaches the loss only through the zero-initialised
    # ĥ -> z weights, so the hyper LSTM itself gets its first gradient after those move
    assert all(at_init[f"cells.0.{n}"] for n in ("w_x.weight", "w_h.weight", "bias", "to_z.weight",
                                                  "z_to_dx", "z_to_dh", "zb_to_bias"))
    assert not at_init["cells.0.hyper.w_x.weight"]
    with torch.no_grad():
        layer.cells[0].to_z.weight.normal_(std=0.1)
        layer.cells[0].zb_to_bias.normal_(std=0.1)
    assert all(_grads(layer).values())


def test_the_layer_equals_its_cell_stepped_by_hand_and_carries_state():
    layer = HyperLSTM(3, 6, num_layers=2, hyper_size=5, embedding_size=4)
    x = torch.randn(2, 5, 3)
    out, finals = layer(x)
    s0 = s1 = None
    for t in range(5):
        s0 = layer.cells[0](x[:, t], s0)
        s1 = layer.cells[1](s0[0], s1)
    torch.testing.assert_close(out[:, -1], s1[0])
    first, state = layer(x[:, :3])
    second, _ = layer(x[:, 3:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), out)


def test_char_lm_learns_a_periodic_stream_and_evaluates_bpc():
    torch.manual_seed(0)
    stream = torch.arange(600) % 7
    for cell in ("lstm", "layernorm_lstm", "hyperlstm"):
        lm = CharLM(7, cell=cell, hidden_size=16, embedding_dim=8, hyper_size=8, embedding_size=4)
        before = evaluate(lm, stream, seq_len=20, streams=4)["bpc"]
        fit(lm, stream, SequenceConfig(steps=60, seq_len=20, batch_size=8, lr=1e-2, progress=False))
        after = evaluate(lm, stream, seq_len=20, streams=4)
        assert after["bpc"] < 0.5 * before, cell
        assert after["bpc"] == pytest.approx(after["nll"] / math.log(2))


def test_an_untrained_uniform_model_scores_log2_vocab():
    lm = CharLM(8, cell="lstm", hidden_size=4, embedding_dim=4)
    with torch.no_grad():
        lm.head.weight.zero_()
        lm.head.bias.zero_()
    assert evaluate(lm, torch.arange(400) % 8, seq_len=10, streams=4)["bpc"] == pytest.approx(3.0)


def test_char_lm_round_trips_through_hw_save_and_load(tmp_path):
    lm = CharLM(9, cell="hyperlstm", hidden_size=8, hyper_size=4, embedding_size=2)
    hw.save(lm, tmp_path / "lm.safetensors")
    again = hw.load(tmp_path / "lm.safetensors")
    tokens = torch.randint(0, 9, (2, 6))
    torch.testing.assert_close(again(tokens)[0], lm(tokens)[0])


def test_char_lm_training_resumed_after_a_crash_is_bit_identical(tmp_path):
    stream = torch.arange(300) % 5
    path = str(tmp_path / "run.safetensors")

    def run(crash_at=None, **kw):
        torch.manual_seed(1)
        lm = CharLM(5, cell="hyperlstm", hidden_size=8, hyper_size=4, embedding_size=2, dropout=0.1)
        calls = []

        def crash(module, args):
            calls.append(1)
            if len(calls) == crash_at:
                raise KeyboardInterrupt

        lm.register_forward_pre_hook(crash)
        cfg = SequenceConfig(steps=12, seq_len=8, batch_size=4, progress=False, **kw)
        return lm, fit(lm, stream, cfg)

    straight_lm, straight = run()
    with pytest.raises(KeyboardInterrupt):
        run(crash_at=8, checkpoint_path=path, checkpoint_every=5)     # dies after the step-5 checkpoint
    resumed_lm, resumed = run(checkpoint_path=path, checkpoint_every=5, resume=True)
    assert resumed.losses == straight.losses
    for a, b in zip(straight_lm.parameters(), resumed_lm.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("call, error, phrase", [
    (lambda: CharLM(5, cell="gru"), ValueError, "cell must be one of"),
    (lambda: CharLM(1), ValueError, "vocab_size must be an integer >= 2"),
    (lambda: CharLM(5)(torch.randn(2, 3)), ValueError, "integer tokens of shape"),
    (lambda: fit(CharLM(5, hidden_size=4), torch.arange(50) % 9, SequenceConfig(seq_len=5, progress=False)),
     ValueError, "token ids must be in 0..4"),
    (lambda: fit(CharLM(5, hidden_size=4), torch.arange(5), SequenceConfig(seq_len=5)), ValueError,
     "fewer than"),
    (lambda: SequenceConfig(seq_len=0).validate(), ValueError, "seq_len must be a positive integer"),
    (lambda: SequenceConfig(clip=-1).validate(), ValueError, "clip must be >= 0"),
    (lambda: HyperLSTMCell(3, 0), ValueError, "hidden_size must be a positive integer"),
    (lambda: HyperLSTMCell(3, 4, dropout=1.0), ValueError, "dropout must be in"),
    (lambda: HyperLSTM(3, 4)(torch.randn(2, 5, 4)), ValueError, r"batch-first input \(B, T, 3\)"),
    (lambda: HyperLSTM(3, 4, num_layers=0), ValueError, "num_layers must be a positive integer"),
])
def test_bad_inputs_are_clear_errors(call, error, phrase):
    with pytest.raises(error, match=phrase):
        call()
