"""The one batch of completions the preference trainers read (``algorithms.preference.sequences``):
the log-probs of the completion tokens only, padding masked, per token and per sequence, checked
against one forward pass per row."""

from __future__ import annotations

import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.sequences import (completion_batch, completion_token_logps,
                                             sequence_logps, target_logps)


def _model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=16, multiple_of=8))


def _row_logps(model, prompt, completion):
    """log π(y_t | x, y_<t) of one row, from its own unpadded forward pass."""
    row = torch.tensor([list(prompt) + list(completion)])
    with torch.no_grad():
        logp = torch.log_softmax(model(row[:, :-1]), -1)[0]
    return [float(logp[t - 1, row[0, t]]) for t in range(len(prompt), row.shape[1])]


def test_sequence_logps_sum_only_the_completion_tokens():
    model = _model()
    prompts, completions = [[1, 2], [5]], [[3, 4, 5], [6]]
    batch = completion_batch(prompts, completions, "cpu")
    assert batch.ids.tolist() == [[1, 2, 3, 4, 5], [5, 6, 0, 0, 0]]
    with torch.no_grad():
        got = sequence_logps(model, batch)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        assert got[i].item() == pytest.approx(sum(_row_logps(model, p, c)), abs=1e-5)


def test_token_logps_line_up_with_the_completions_and_padding_is_masked():
    model = _model()
    batch = completion_batch([[1, 2], [1, 2]], [[3, 4], [5]], "cpu", width=3)
    with torch.no_grad():
        logps, mask = completion_token_logps(model, batch)
    assert mask.tolist() == [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert logps[0, :2].tolist() == pytest.approx(_row_logps(model, [1, 2], [3, 4]), abs=1e-5)
    assert logps[1, 0].item() == pytest.approx(_row_logps(model, [1, 2], [5])[0], abs=1e-5)


def test_entropy_is_that_of_the_softmax_and_a_minibatch_keeps_its_rows():
    logits = torch.tensor([[[0.0, 0.0], [10.0, -10.0]]])
    ids = torch.tensor([[0, 1, 0]])
    logps, entropy = target_logps(logits, ids, with_entropy=True)
    assert logps[0, 0].item() == pytest.approx(-torch.log(torch.tensor(2.0)).item())
    assert entropy[0, 0].item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert entropy[0, 1].item() == pytest.approx(0.0, abs=1e-6)
    batch = completion_batch([[1], [2], [3]], [[4], [], [5, 6]], "cpu")
    part = batch.take(torch.tensor([2, 0]))
    assert part.ids.tolist() == [[3, 5, 6], [1, 4, 0]]
    assert part.target_mask.tolist() == [[1.0, 1.0], [1.0, 0.0]]


def test_rows_with_different_prompt_lengths_do_not_line_up_and_empty_prompts_are_refused():
    batch = completion_batch([[1, 2], [1]], [[3], [3]], "cpu")
    with pytest.raises(ValueError, match="differ in length"):
        batch.completion_part(batch.target_mask)
    with pytest.raises(ValueError, match="at least one token"):
        completion_batch([[]], [[3]], "cpu")
