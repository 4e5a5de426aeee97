"""What week 5's studies share: one small LLaMA on TinyStories (week 8's corpus and tokenizer),
changed one config field at a time, trained over seeds and measured on one grid.

An architecture is a dict of :class:`algorithms.lm.config.LMConfig` fields applied on top of the
study's ``model``; a study is a list of :class:`Variant` (key, label, changes, panel) run through
the one seed-study harness (``algorithms.harness``). Every run logs its whole history through
the tracker as ``<prefix>/<variant>/seed<k>/<field>`` against ``train_step``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from algorithms.experiment import Tracker
from algorithms.harness import Measurement, Method
from algorithms.weeks.week08.common import LMExperimentConfig, load_data, train_logged

if TYPE_CHECKING:
    import numpy as np

    from algorithms.lm.data import LMData
    from algorithms.lm.train import TrainResult

UNITS = {"*per_s": "tokens/s", "*params*": "parameters", "*loss*": "nats/token",
         "*_ms": "ms", "*mib*": "MiB", "*flops*": "FLOPs", "*share*": "", "*cv*": "",
         "*entropy*": "nats", "*norm*": "", "*diverged*": "runs"}  # first match wins

SMOKE = {"vocab_size": 300, "n_seeds": 2,
         "model": {"d_model": 16, "n_layers": 2, "n_heads": 2, "max_seq_len": 32,
                   "multiple_of": 8, "ssm_state": 4, "ssm_chunk": 8, "retention_chunk": 8},
         "train": {"steps": 4, "batch_size": 4, "block_size": 16, "warmup_steps": 1,
                   "eval_every": 2, "eval_batches": 2, "log_every": 1}}
"""The smoke profile every week-5 study starts from: seconds, for the tests."""

GPU = {"vocab_size": 4096,
       "model": {"d_model": 384, "n_layers": 8, "n_heads": 6, "max_seq_len": 512,
                 "multiple_of": 64},
       "train": {"steps": 3000, "batch_size": 64, "block_size": 512, "lr": 1e-3,
                 "warmup_steps": 150, "eval_every": 250, "eval_batches": 20, "log_every": 25}}


ARCHITECTURES = {
    "transformer": ("Transformer (2017)", {"norm": "layernorm", "norm_position": "post",
                                          "ffn": "relu"}),
    "gpt2": ("GPT-2 (2019)", {"norm": "layernorm", "ffn": "gelu"}),
    "llama": ("LLaMA (2023)", {}),
    "palm": ("PaLM (2022)", {"block": "parallel"}),
    "switch": ("Switch MoE (2021)", {"n_experts": 4}),
    "retnet": ("RetNet (2023)", {"mixer": "retnet"}),
    "mamba": ("Mamba (2023)", {"mixer": "mamba", "ffn": "none"}),
    "mamba2": ("Mamba-2 (2024)", {"mixer": "mamba2", "ffn": "none"}),
}
"""The lineage as config changes to the LLaMA default (positions stay rotary throughout: the
original's sinusoids and GPT-2's learned table are week 3's subject, not a block change)."""


class ArchStudyConfig(LMExperimentConfig):
    """A study of architecture variants: ``model`` is the shared LLaMA (cpu: 4 layers of 64,
    ~200 k non-embedding parameters), ``train`` the shared run (cpu: 150 steps of 16 × 64
    tokens), each variant trained ``n_seeds`` times with seeds ``seed, seed + 1, …``."""

    n_seeds: int = 3
    model: dict[str, Any] = {"d_model": 64, "n_layers": 4, "n_heads": 4, "max_seq_len": 64,
                             "multiple_of": 16}
    train: dict[str, Any] = {"steps": 150, "batch_size": 16, "block_size": 64, "lr": 3e-3,
                             "warmup_steps": 15, "beta2": 0.99, "eval_every": 25,
                             "eval_batches": 8, "log_every": 5}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {"smoke": SMOKE, "gpu": GPU}

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + self.n_seeds)


@dataclass(frozen=True)
class Variant:
    """One architecture of a study: ``changes`` to the model config, ``train`` changes to the
    run, shown in ``panel`` of the study's figures."""

    key: str
    label: str
    changes: dict[str, Any] = field(default_factory=dict)
    panel: str = ""
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyContext:
    """The corpus loaded once, and what each variant's runs noted on the way (parameter counts,
    the first seed's history)."""

    config: ArchStudyConfig
    tracker: Tracker
    data: LMData
    n_params: dict[str, int] = field(default_factory=dict)
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, config: ArchStudyConfig, tracker: Tracker) -> StudyContext:
        return cls(config, tracker, load_data(config, tracker))

    def method(self, variant: Variant, prefix: str, on_step: Any = None,
               prepare: Any = None) -> Method:
        """The harness arm that trains ``variant`` once per seed; ``prepare(model)`` changes
        the freshly built model in place first (e.g. swaps its Linear layers for FP8 ones)."""

        def run(seed: int) -> TrainResult:
            import torch

            from algorithms.lm.model import LanguageModel

            torch.manual_seed(seed)
            model = LanguageModel(self.config.lm_config(self.data.vocab_size,
                                                        **variant.changes))
            self.n_params[variant.key] = model.n_params(embeddings=False)
            if prepare is not None:
                prepare(model)
            run_config = self.config.train_config(seed=seed, **variant.train)
            result = train_logged(self.tracker, model, self.data, run_config,
                                  f"{prefix}/{variant.key}/seed{seed}", on_step=on_step)
            self.histories.setdefault(variant.key, result.history)
            return result

        return Method(variant.key, variant.label, run, panel=variant.panel)

    def grid(self) -> np.ndarray:
        """The evaluation steps every run shares: 0, every ``eval_every``, the last step."""
        import numpy as np

        run = self.config.train_config()
        return np.array(sorted({0, *range(run.eval_every, run.steps, run.eval_every),
                                run.steps}))


def at_steps(history: list[dict[str, Any]], name: str, grid: np.ndarray) -> np.ndarray:
    """Field ``name`` of the history rows at the grid's steps (NaN where no row has it)."""
    import numpy as np

    rows = {row["step"]: row[name] for row in history if name in row}
    return np.array([rows.get(int(step), np.nan) for step in grid], dtype=float)


def measure_run(result: TrainResult, grid: np.ndarray,
                curves: tuple[str, ...] = ("val_loss",)) -> Measurement:
    """Curves on the grid; scalars: the final validation loss, training tokens/s, whether the
    run diverged (a non-finite loss, or a final loss above the initial one), the largest
    gradient norm and the largest rise of the training loss above its running minimum (a
    loss spike)."""
    history = result.history
    vals = [row["val_loss"] for row in history if "val_loss" in row]
    train = [row["train_loss"] for row in history if "train_loss" in row]
    norms = [row["grad_norm"] for row in history if "grad_norm" in row]
    diverged = not math.isfinite(result.final_val_loss) or result.final_val_loss > vals[0]
    spike, low = 0.0, math.inf
    for loss in train:
        if math.isfinite(loss):
            low = min(low, loss)
            spike = max(spike, loss - low)
    return Measurement(
        curves={name: at_steps(history, name, grid) for name in curves},
        scalars={"val_loss": result.final_val_loss, "tokens_per_s": result.tokens_per_s,
                 "diverged": float(diverged),
                 "max_grad_norm": max((n for n in norms if math.isfinite(n)), default=math.nan),
                 "loss_spike": spike})


def layer_grad_norms(model: Any) -> dict[str, float]:
    """``grad_norm/layer<i>``: the L2 norm of block i's gradient (an ``on_step`` hook)."""
    import torch

    norms = {}
    for i, block in enumerate(model.model.layers):
        grads = [p.grad.detach().float().norm() for p in block.parameters() if p.grad is not None]
        norms[f"grad_norm/layer{i}"] = torch.stack(grads).norm().item() if grads else 0.0
    return norms


def finite_mean(values: Any) -> float:
    """The mean of the finite values (NaN when none is): a diverged seed is counted apart."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def rounded(value: float, digits: int = 4) -> float | None:
    """A number for a table or summary; None for a non-finite one (JSON has no NaN)."""
    return round(float(value), digits) if math.isfinite(value) else None
