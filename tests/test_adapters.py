"""hyperweights.adapters: module selection, factored mixed-task application, generators, peft I/O."""

import warnings

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

import hyperweights as hw  # noqa: E402
from hyperweights.adapters import (AdaptersConfig, AdapterGenerator, DescriptionCondition,  # noqa: E402
                                   LoRATable, MultiTaskAdapterModel, TaskData, adapted, distill, evaluate,
                                   export_peft, fit, import_peft, lora_distillation_loss, lower_states,
                                   select_modules, support_set_condition, upper_states)


def tiny_bert(layers=2, hidden=16, seed=0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    return transformers.BertModel(config).eval()


def randomised(weights, seed=1):
    """Non-zero B so that an adapter changes the output."""
    g = torch.Generator().manual_seed(seed)
    return {n: (a, torch.randn(b.shape, generator=g) * 0.3) for n, (a, b) in weights.items()}


def inputs(batch=6, length=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 60, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[0, 5:] = 0
    return ids, mask


# ---------------------------------------------------------------------------------- selection
def test_select_modules_by_suffix_regex_exclude_and_layers():
    bert = tiny_bert()
    names = [m.name for m in select_modules(bert, ["query", "value"])]
    assert names == [f"encoder.layer.{i}.attention.self.{k}" for i in range(2) for k in ("query", "value")]
    assert [m.layer for m in select_modules(bert, ["query"], layers=[1])] == [1]
    assert len(select_modules(bert, r".*attention\.self\.(query|key)", exclude=["key"])) == 2
    with pytest.raises(ValueError, match="matched no module.*Linear modules"):
        select_modules(bert, ["q_proj"])
    with pytest.raises(TypeError, match="Conv2d; adapters apply to nn.Linear"):
        select_modules(nn.Sequential(nn.Conv2d(1, 2, 3)), ["0"])


def test_gpt2_conv1d_is_selected_with_its_widths():
    gpt2 = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=20))
    (module,) = select_modules(gpt2, ["c_attn"])
    assert (module.in_features, module.out_features, module.fan_in_fan_out) == (8, 24, True)


# ---------------------------------------------------------------------------------- application
def test_mixed_task_batch_equals_each_task_alone_and_the_materialised_update():
    bert = tiny_bert()
    mods = select_modules(bert, ["query", "value"])
    weights = randomised(LoRATable(mods, num_sets=3, rank=4)(torch.arange(3)))
    ids, mask = inputs()
    tasks = torch.tensor([2, 0, 1, 1, 0, 2])
    before = {n: p.clone() for n, p in bert.named_parameters()}
    with adapted(bert, mods, weights, scaling=2.0, index=tasks):
        mixed = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    with adapted(bert, mods, weights, scaling=2.0, index=tasks, materialise=True):
        materialised = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(mixed, materialised, atol=1e-5, rtol=1e-5)
    for t in range(3):
        one = {n: (a[t:t + 1], b[t:t + 1]) for n, (a, b) in weights.items()}
        with adapted(bert, mods, one, scaling=2.0):
            alone = bert(input_ids=ids[tasks == t], attention_mask=mask[tasks == t]).last_hidden_state
        torch.testing.assert_close(mixed[tasks == t], alone, atol=1e-5, rtol=1e-5)
    plain = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (plain - mixed).abs().max() > 1e-3                      # the adapter did something
    assert all(torch.equal(p, before[n]) for n, p in bert.named_parameters())
    assert not any(m._forward_hooks for m in bert.modules())       # hooks removed


def test_hooks_are_removed_when_the_call_raises_and_bad_weights_are_named():
    bert = tiny_bert()
    mods = select_modules(bert, ["query"])
    weights = LoRATable(mods, num_sets=2, rank=2)(torch.arange(2))
    with pytest.raises(ValueError, match="index has 2 entries but the batch has 3"):
        with adapted(bert, mods, weights, index=torch.tensor([0, 1])):
            bert(input_ids=torch.randint(0, 60, (3, 4)))
    assert not any(m._forward_hooks for m in bert.modules())
    with pytest.raises(ValueError, match="2 adapter weight sets for a batch of 3"):
        with adapted(bert, mods, weights):
            bert(input_ids=torch.randint(0, 60, (3, 4)))
    with pytest.raises(TypeError, match="index must be a 1-D integer tensor"):
        with adapted(bert, mods, weights, index=torch.zeros(3)):
            pass
    with pytest.raises(KeyError, match="no adapter weights"):
        with adapted(bert, mods, {}):
            pass
    with pytest.raises(ValueError, match="kind must be one of"):
        with adapted(bert, mods, weights, kind="prefix"):
            pass


def test_lower_layer_cache_reproduces_the_full_model_with_padding():
    bert = tiny_bert(layers=3)
    ids, mask = inputs()
    full = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(upper_states(bert, lower_states(bert, ids, mask, 2), mask, 2), full,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="BERT-style encoder"):
        lower_states(nn.Linear(2, 2), ids, mask, 1)


# ---------------------------------------------------------------------------------- generators
@pytest.mark.parametrize("options", [{}, {"decompose_rank": 2}, {"scaling_kernel": 4},
                                     {"decompose_rank": 2, "scaling_kernel": 4}, {"kind": "bottleneck"}])
def test_generator_shapes_start_and_gradients(options):
    bert = tiny_bert()
    mods = select_modules(bert, ["query", "value"])
    gen = AdapterGenerator(mods, hw.TaskEmbedding(3, 8), rank=4, hidden=12, bottleneck=4, **options)
    weights = gen(torch.arange(3))
    first, second = weights[mods[0].name]
    expected = ((3, 4, 16), (3, 16, 4))
    assert (tuple(first.shape), tuple(second.shape)) == expected
    assert second.abs().max() == 0                                # starts as the pretrained model
    ids, mask = inputs()
    model = MultiTaskAdapterModel(bert, gen, [2, 3, 2])
    loss = model(ids, mask, torch.tensor([0, 1, 2, 0, 1, 2])).logsumexp(1).sum()
    loss.backward()
    heads = [p for n, p in gen.named_parameters() if n.startswith("heads")]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in heads)
    assert all(p.grad is None for p in bert.parameters())


def test_polyhistor_options_cut_the_generator_parameters():
    mods = select_modules(tiny_bert(hidden=96), ["query", "value"])
    sizes = {opt: hw.param_count(AdapterGenerator(mods, hw.TaskEmbedding(3, 8), rank=8, hidden=16, **kw))
             for opt, kw in {"full": {}, "decomposed": {"decompose_rank": 2},
                             "kernel": {"scaling_kernel": 4}}.items()}
    assert sizes["decomposed"] < sizes["full"] / 2 and sizes["kernel"] < sizes["full"] / 2


def test_description_and_support_set_conditions_drive_the_generator():
    mods = select_modules(tiny_bert(), ["query"])
    desc = DescriptionCondition(2, 10, 6)
    desc.set_descriptions(torch.randn(2, 10))
    gen = AdapterGenerator(mods, desc, rank=2, hidden=8)
    assert gen(torch.tensor([1]))[mods[0].name][0].shape == (1, 2, 16)
    assert gen(torch.randn(3, 10))[mods[0].name][0].shape == (3, 2, 16)   # unseen descriptions
    with pytest.raises(IndexError, match="task ids must be integers in 0..1"):
        gen(torch.tensor([5]))
    few_shot = AdapterGenerator(mods, support_set_condition(7, 6), rank=2, hidden=8)
    assert few_shot(torch.randn(4, 5, 7))[mods[0].name][1].shape == (4, 16, 2)


# ---------------------------------------------------------------------------------- peft
def _peft_outputs(base, folder, ids, mask):
    peft = pytest.importorskip("peft")
    with warnings.catch_warnings():   # peft/transformers emit FutureWarnings about their own APIs
        warnings.simplefilter("ignore", FutureWarning)
        wrapped = peft.PeftModel.from_pretrained(base, str(folder)).eval()
        return wrapped(input_ids=ids, attention_mask=mask).last_hidden_state


def test_exported_generated_lora_loads_in_peft_with_the_same_outputs(tmp_path):
    pytest.importorskip("peft")
    bert = tiny_bert()
    mods = select_modules(bert, ["query", "value"])
    gen = AdapterGenerator(mods, hw.TaskEmbedding(3, 8), rank=4, alpha=8, hidden=12)
    with torch.no_grad():
        for pair in gen.heads:
            pair[1].out.bias.normal_(0, 0.3)                     # a non-zero B, as after training
    weights = gen(torch.tensor([1]))
    ids, mask = inputs()
    with adapted(bert, mods, weights, scaling=gen.scaling):
        ours = bert(input_ids=ids, attention_mask=mask).last_hidden_state.detach()
    export_peft(tmp_path / "task1", mods, weights, rank=4, alpha=8)
    assert {p.name for p in (tmp_path / "task1").iterdir()} == {"adapter_config.json", "adapter_model.safetensors"}
    theirs = _peft_outputs(tiny_bert(), tmp_path / "task1", ids, mask)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)
    imported, scaling = import_peft([tmp_path / "task1"])
    assert scaling == gen.scaling
    torch.testing.assert_close(imported[mods[0].name][1][0], weights[mods[0].name][1][0].detach())


def test_gpt2_conv1d_export_round_trip(tmp_path):
    pytest.importorskip("peft")
    config = transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=20, n_positions=16)
    torch.manual_seed(0)
    gpt2 = transformers.GPT2Model(config).eval()
    mods = select_modules(gpt2, ["c_attn"])
    weights = randomised(LoRATable(mods, rank=2)(torch.tensor([0])))
    ids = torch.randint(0, 20, (2, 5))
    with adapted(gpt2, mods, weights, scaling=2.0):
        ours = gpt2(input_ids=ids).last_hidden_state
    export_peft(tmp_path / "g", mods, weights, rank=2, alpha=4)
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    with warnings.catch_warnings():   # peft warns that fan_in_fan_out is set for Conv1D; expected here
        warnings.simplefilter("ignore")
        theirs = peft.PeftModel.from_pretrained(transformers.GPT2Model(config).eval(), str(tmp_path / "g"))
        theirs = theirs(input_ids=ids).last_hidden_state
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)


def test_distillation_loss_is_factored_and_distil_fits_imported_loras():
    torch.manual_seed(0)
    a, b = torch.randn(2, 3, 10), torch.randn(2, 8, 3)
    loss = lora_distillation_loss({"m": (a, b)}, 1.5, {"m": (a * 0, b)}, 1.0)
    torch.testing.assert_close(loss, ((1.5 * b @ a) ** 2).mean())
    mods = select_modules(tiny_bert(), ["query"])
    targets = {mods[0].name: (torch.randn(2, 2, 16) * 0.3, torch.randn(2, 16, 2) * 0.3)}
    gen = AdapterGenerator(mods, hw.TaskEmbedding(2, 4), rank=2, alpha=2, hidden=16)
    result = distill(gen, targets, 1.0, AdaptersConfig(steps=150, lr=1e-2, progress=False))
    assert result.losses[-1] < 0.2 * result.losses[0]


# ---------------------------------------------------------------------------------- training
def _toy_tasks(n=96, length=8, seed=0):
    """Task 0: is token 1 present; task 1: which of tokens 2/3/4 starts the text (3 classes)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 60, (n, length), generator=g)
    tasks = torch.arange(n) % 2
    labels = torch.randint(0, 2, (n,), generator=g)
    labels[tasks == 1] = torch.randint(0, 3, (int((tasks == 1).sum()),), generator=g)
    ids[(tasks == 0) & (labels == 1), 3] = 1
    ids[tasks == 1, 0] = 2 + labels[tasks == 1]
    return TaskData(ids, torch.ones_like(ids), labels, tasks, ["presence", "first"])


def test_fit_evaluate_and_checkpoint_round_trip(tmp_path):
    bert = tiny_bert()
    mods = select_modules(bert, ["query", "value"], layers=[1])
    gen = AdapterGenerator(mods, hw.TaskEmbedding(2, 8), rank=4, hidden=16)
    model = MultiTaskAdapterModel(bert, gen, [2, 3], start_layer=1)
    data = _toy_tasks()
    cached = data.cached(model)
    result = fit(model, cached, AdaptersConfig(steps=60, lr=1e-2, batch_size=16, progress=False))
    assert result.steps == 60 and sum(result.losses[-10:]) < sum(result.losses[:10])
    scores = evaluate(model, cached)
    assert set(scores) == {"accuracy", "accuracy/presence", "accuracy/first"} and scores["accuracy"] > 0.6
    torch.testing.assert_close(torch.tensor(evaluate(model, data)["accuracy"]), torch.tensor(scores["accuracy"]))
    hw.save(model, tmp_path / "m.safetensors")
    clone = AdapterGenerator(mods, hw.TaskEmbedding(2, 8), rank=4, hidden=16)
    loaded = hw.load(tmp_path / "m.safetensors", base=bert, adapters=clone)
    assert evaluate(loaded, cached) == scores
    with pytest.raises(ValueError, match="holds no pretrained weights"):
        hw.load(tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="must be a positive integer"):
        fit(model, cached, AdaptersConfig(steps=0))
    bad = TaskData(data.input_ids[:4], data.attention_mask[:4], torch.tensor([2, 1, 1, 0]),
                   torch.tensor([0, 1, 1, 0]), data.task_names)
    with pytest.raises(ValueError, match="every label must lie in"):
        fit(model, bad, AdaptersConfig(steps=1, progress=False))
    bad.tasks[0] = 7
    with pytest.raises(ValueError, match="task indices must lie in 0..1"):
        fit(model, bad, AdaptersConfig(steps=1, progress=False))


def test_bad_model_inputs_are_named():
    bert = tiny_bert()
    mods = select_modules(bert, ["query"])
    with pytest.raises(ValueError, match="adapters sit in lower blocks"):
        MultiTaskAdapterModel(bert, LoRATable(mods), [2], start_layer=1)
    with pytest.raises(ValueError, match="at least two classes"):
        MultiTaskAdapterModel(bert, None, [1])
