"""Bad input to the continual API: one row per case (what is called, the exception, a phrase of its
helpful part). Every error names what was expected and how to fix it, at the public boundary."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights import cli
from hyperweights.continual import (HNET, ContinualConfig, FineTune, HyperInterval, Joint,
                                    OutputRegularizer, SeparateNetworks, evaluate, fit)
from hyperweights.data.protocols import make_protocol

sys.path.insert(0, str(Path(__file__).parent))
from bad_input_table import assert_clear_error, table  # noqa: E402

CLASSES = [[0, 1], [2, 3]]


def _target():
    return hw.mlp((8, 16, 4))


def _hnet(**kw):
    torch.manual_seed(0)
    return HNET(_target(), CLASSES, emb_dim=4, trunk=hw.MLP((8,)), head=hw.ChunkedHead(64, 4), **kw)


def _interval():
    torch.manual_seed(0)
    return HyperInterval(_target(), CLASSES, steps_per_task=4, emb_dim=4, trunk=hw.MLP((8,)),
                         head=hw.ChunkedHead(64, 4))


def _begun(make=_hnet, *tasks):
    learner = make()
    for t in tasks or (0,):
        learner.begin_task(t)
    return learner


X, Y = torch.rand(5, 8), torch.tensor([0, 1, 1, 0, 1])


def _digits():
    return make_protocol("split", "digits")


def _digits_hnet(**kw):
    p = _digits()
    return HNET(hw.mlp((64, 16, 10)), p.classes, emb_dim=4, trunk=hw.MLP((8,)),
                head=hw.ChunkedHead(256, 4), **kw), p


def _fit(config, **kw):
    learner, p = _digits_hnet(**kw)
    return fit(learner, p, config)


class _NotAnMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 4)

    def forward(self, x):
        return self.a(x)


def _save_and_load(learner, tmp):
    hw.save(learner, tmp)
    return hw.load(tmp)


CASES = [
    # construction: classes and the target's outputs
    ("classes beyond the target's outputs", lambda: HNET(_target(), [[0, 1], [2, 9]]), ValueError, "the target has 4 outputs"),
    ("classes as a string", lambda: HNET(_target(), "01"), TypeError, "nested list of integer"),
    ("classes 1-D", lambda: HNET(_target(), torch.tensor([0, 1])), ValueError, "shape (T, C)"),
    ("classes empty", lambda: FineTune(_target(), torch.zeros(0, 2, dtype=torch.long)), ValueError, "shape (T, C)"),
    ("classes of floats", lambda: HNET(_target(), torch.tensor([[0.0, 1.0]])), TypeError, "integer output-unit ids"),
    ("negative classes", lambda: FineTune(_target(), [[-1, 0]]), ValueError, "non-negative"),
    ("lr of zero", lambda: FineTune(_target(), CLASSES, lr=0.0), ValueError, "positive learning rate"),
    ("HyperInterval without steps", lambda: HyperInterval(_target(), CLASSES, steps_per_task=0), ValueError, "steps_per_task >= 1"),
    ("Joint without its protocol", lambda: Joint(_target(), CLASSES), TypeError, "needs the protocol"),
    ("regularizer mode", lambda: OutputRegularizer(_hnet().hnet, 2, mode="cached"), ValueError, "'stored' or 'snapshot'"),
    # task order (issue 12 item 9)
    ("step before begin_task", lambda: _hnet().step(0, X, Y), RuntimeError, "call begin_task(0) first"),
    ("HyperInterval step before begin_task", lambda: _interval().step(0, X, Y), RuntimeError, "before begin_task"),
    ("SeparateNetworks step before begin_task", lambda: SeparateNetworks(_target(), CLASSES).step(0, X, Y), RuntimeError, "before begin_task"),
    ("a task skipped", lambda: _hnet().begin_task(1), ValueError, "tasks are learned in order"),
    ("back to an earlier task", lambda: _begun(_hnet, 0, 1).begin_task(0), ValueError, "cannot go back"),
    ("step of another task", lambda: _begun(_hnet, 0, 1).step(0, X, Y), RuntimeError, "the task being learned is 1"),
    ("task id out of range", lambda: _hnet().begin_task(7), IndexError, "ids 0..1"),
    ("generator of the wrong kind", lambda: _hnet().begin_task(0, generator=3), TypeError, "torch.Generator"),
    # the batch of a step
    ("x as a list", lambda: _begun().step(0, X.tolist(), Y), TypeError, "x must be a torch.Tensor"),
    ("y as a list", lambda: _begun().step(0, X, Y.tolist()), TypeError, "y must be a torch.Tensor"),
    ("x float64", lambda: _begun().step(0, X.double(), Y), TypeError, "learner's dtype torch.float32"),
    ("x int64", lambda: _begun(_interval).step(0, X.long(), Y), TypeError, "convert it"),
    ("x on the meta device", lambda: _begun().step(0, X.to("meta"), Y), TypeError, "is on device meta"),
    ("x of the wrong feature size", lambda: _begun().step(0, torch.rand(5, 6), Y), ValueError, "shape (B, 8)"),
    ("x without a batch dimension", lambda: _begun(lambda: FineTune(_target(), CLASSES)).step(0, X[0], Y), ValueError, "shape (B, 8)"),
    ("y of another length", lambda: _begun().step(0, X, Y[:3]), ValueError, "shape (5,)"),
    ("y of floats", lambda: _begun().step(0, X, Y.float()), ValueError, "int64 local labels"),
    ("labels outside the task", lambda: _begun().step(0, X, torch.tensor([0, 1, 2, 0, 1])), ValueError, "local class indices"),
    # fit, its config and evaluate (issue 12 item 10)
    ("steps = -1", lambda: _fit(ContinualConfig(steps=-1)), ValueError, "steps must be a positive integer"),
    ("batch_size = 0", lambda: _fit(ContinualConfig(batch_size=0)), ValueError, "batch_size must be a positive integer"),
    ("eval_every = 0", lambda: _fit(ContinualConfig(eval_every=0)), ValueError, "eval_every must be a positive"),
    ("checkpoint_every in steps", lambda: _fit(ContinualConfig(checkpoint_every=5, checkpoint_path="x.safetensors")), ValueError, "written after every task"),
    ("resume without a path", lambda: _fit(ContinualConfig(resume=True)), ValueError, "needs the checkpoint_path"),
    ("config lr differs from the learner's", lambda: _fit(ContinualConfig(lr=0.1)), ValueError, "pass the same value"),
    ("a device fit does not support", lambda: _fit(ContinualConfig(device="meta")), ValueError, "runs on the CPU"),
    ("config of the wrong type", lambda: _fit({"steps": 3}), TypeError, "must be a ContinualConfig"),
    ("fit on a plain module", lambda: fit(nn.Linear(2, 2), _digits(), ContinualConfig()), TypeError, "hyperweights.continual learner"),
    ("protocol with more tasks", lambda: fit(_hnet(), _digits(), ContinualConfig()), ValueError, "built for 2"),
    ("evaluate too many tasks", lambda: evaluate(_digits_hnet()[0], _digits(), num_tasks=9), ValueError, "num_tasks must be in 1..5"),
    ("protocol kind", lambda: make_protocol("rotated", "digits"), ValueError, "unknown protocol"),
    ("protocol task out of range", lambda: _digits().sample(9, 4, torch.Generator()), IndexError, "ids 0..4"),
]


@table(CASES)
def test_bad_input_is_a_clear_error(call, error, phrase):
    assert_clear_error(call, error, phrase)


def test_a_target_that_is_not_an_mlp_must_be_passed_to_load(tmp_path):
    learner = FineTune(_NotAnMLP(), CLASSES)
    with pytest.raises(ValueError, match="pass the target it was trained with"):
        _save_and_load(learner, tmp_path / "f.safetensors")
    again = hw.load(tmp_path / "f.safetensors", target=_NotAnMLP())
    assert torch.equal(again.target.a.weight, learner.target.a.weight)


CLI_CASES = [
    (["--steps", "-1"], "expected a positive integer, got -1"),
    (["--batch", "0"], "expected a positive integer, got 0"),
    (["--threads", "0"], "expected a positive integer, got 0"),
    (["--steps", "many"], "expected a positive integer, got 'many'"),
    (["--feature-scale", "-2"], "positive number or 'auto'"),
]


@pytest.mark.parametrize("extra, phrase", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_cli_bad_values_are_one_line_errors(extra, phrase, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["continual", "--dataset", "digits", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert phrase in err and "Traceback" not in err


def test_cli_runtime_error_is_one_line(tmp_path, capsys):
    missing = tmp_path / "none.safetensors"
    code = cli.main(["continual", "--dataset", "digits", "--steps", "1", "--checkpoint", str(missing), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no checkpoint at" in err
