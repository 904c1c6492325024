"""Hypernetwork-generated adapters for a frozen pretrained transformer, usable wherever peft is.

- :func:`select_modules`: peft-style ``target_modules`` (``nn.Linear``; GPT-2 ``Conv1D``).
- :func:`adapted`: LoRA / bottleneck adapters applied in factored form, a mixed-task batch in one
  gather-and-bmm call, the model never modified.
- :class:`AdapterGenerator`: HyperFormer++-style task + layer + module-type embeddings -> adapters;
  Polyhistor's decomposed heads and layer-wise scaling kernels as options; any condition
  (:class:`~hyperweights.TaskEmbedding`, :class:`DescriptionCondition` for Text-to-LoRA-style
  descriptions, :func:`support_set_condition` for HyperTuning-style few-shot sets).
- :class:`LoRATable`: plain LoRAs (one per task, or shared) for comparison.
- :class:`MultiTaskAdapterModel`, :class:`AdaptersConfig`, :func:`fit`, :func:`evaluate`,
  :func:`distill`, :class:`TaskData`; lower-layer caching (:mod:`.cache`).
- :func:`export_peft` / :func:`import_peft`: peft adapter folders in and out.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> import hyperweights as hw
    >>> from hyperweights.adapters import AdapterGenerator, adapted, select_modules
    >>> bert = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2,
    ...                             num_attention_heads=2, intermediate_size=16)).eval()
    >>> mods = select_modules(bert, ["query", "value"])
    >>> gen = AdapterGenerator(mods, hw.TaskEmbedding(3, 4), rank=2, hidden=8)
    >>> ids = torch.randint(0, 30, (4, 5))
    >>> with adapted(bert, mods, gen(torch.arange(3)), scaling=gen.scaling, index=torch.tensor([0, 2, 1, 0])):
    ...     out = bert(input_ids=ids).last_hidden_state
    >>> out.shape
    torch.Size([4, 5, 8])
"""

from .apply import adapted as adapted
from .apply import lora_delta as lora_delta
from .cache import lower_states as lower_states
from .cache import upper_states as upper_states
from .conditions import DescriptionCondition as DescriptionCondition
from .conditions import SupportSetEncoder as SupportSetEncoder
from .conditions import support_set_condition as support_set_condition
from .fit import AdaptersConfig as AdaptersConfig
from .fit import TaskData as TaskData
from .fit import distill as distill
from .fit import evaluate as evaluate
from .fit import fit as fit
from .generator import AdapterGenerator as AdapterGenerator
from .model import MultiTaskAdapterModel as MultiTaskAdapterModel
from .peft_io import export_peft as export_peft
from .peft_io import import_peft as import_peft
from .peft_io import lora_distillation_loss as lora_distillation_loss
from .select import AdaptedModule as AdaptedModule
from .select import select_modules as select_modules
from .table import LoRATable as LoRATable

__all__ = ["AdaptedModule", "AdapterGenerator", "AdaptersConfig", "DescriptionCondition", "LoRATable",
           "MultiTaskAdapterModel", "SupportSetEncoder", "TaskData", "adapted", "distill", "evaluate",
           "export_peft", "fit", "import_peft", "lora_delta", "lora_distillation_loss", "lower_states",
           "select_modules", "support_set_condition", "upper_states"]
