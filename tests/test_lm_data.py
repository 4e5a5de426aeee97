"""The LM data pipeline: cached tokenizers and token arrays, batches, corpora."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.lm import data as lm_data
from algorithms.lm.data import (
    DATA, EOT, CharTokenizer, bpe_tokenizer, corpus_files, get_batch, load_lm_data,
    load_tokenizer, token_array)

SAMPLE = DATA / "tinystories" / "tinystories_sample_cs336.txt"
STORIES = f"Tom had a red ball.\n{EOT}\nSue saw a big dog.\nThe dog ran.\n{EOT}\nThe end é."


@pytest.fixture
def stories(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text(STORIES, "utf-8")
    return path


def count_training(monkeypatch) -> list[int]:
    calls = []
    real = lm_data.train_tokenizer

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_data, "train_tokenizer", counted)
    return calls


def test_the_tokenizer_is_trained_once_and_then_loaded(tmp_path, monkeypatch):
    calls = count_training(monkeypatch)
    first = bpe_tokenizer(SAMPLE, 300, tmp_path)
    assert len(calls) == 1 and first.vocab_size == 300 and first.special_ids == {EOT: 0}

    def refuse(*args, **kwargs):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(lm_data, "train_tokenizer", refuse)
    second = bpe_tokenizer(SAMPLE, 300, tmp_path)
    assert second.vocab == first.vocab and second.merges == first.merges
    assert second.special_ids == first.special_ids
    assert not [p for p in (tmp_path / "tokenizers").iterdir() if p.name.startswith(".")]


def test_the_cache_key_changes_with_the_vocabulary_size(tmp_path, monkeypatch):
    calls = count_training(monkeypatch)
    bpe_tokenizer(SAMPLE, 300, tmp_path)
    bpe_tokenizer(SAMPLE, 320, tmp_path)
    assert len(calls) == 2 and len(list((tmp_path / "tokenizers").iterdir())) == 2


def test_a_large_file_trains_the_tokenizer_on_a_prefix_cut_at_a_story(tmp_path, monkeypatch):
    monkeypatch.setattr(lm_data, "TOKENIZER_TRAIN_BYTES", 1000)
    directory = lm_data.bpe_tokenizer_dir(SAMPLE, 290, tmp_path)
    import json
    used = json.loads((directory / "tokenizer_config.json").read_text())["trained_on_bytes"]
    prefix = SAMPLE.read_bytes()[:used]
    assert 0 < used <= 1000 and prefix.endswith(f"{EOT}\n".encode())
    assert not list(tmp_path.rglob("*.prefix.txt"))


def test_stories_end_in_the_eot_id_and_slices_decode_to_the_text(tmp_path, stories):
    tokenizer = bpe_tokenizer(stories, 270, tmp_path)
    tokens = token_array(stories, tokenizer, tmp_path)
    eot = tokenizer.special_ids[EOT]
    assert list(tokens).count(eot) == 2 and tokens.dtype == np.uint16
    joined = tokenizer.decode(tokens.tolist())
    assert joined == STORIES.replace(f"\n{EOT}\n", EOT)  # the boundary is the EOT id alone
    assert tokenizer.decode(tokens[3:12].tolist()) in joined


def test_the_token_array_is_a_read_only_memmap_loaded_from_its_cache(tmp_path, stories,
                                                                      monkeypatch):
    tokenizer = bpe_tokenizer(stories, 270, tmp_path)
    tokens = token_array(stories, tokenizer, tmp_path)
    assert isinstance(tokens, np.memmap)
    with pytest.raises(ValueError):
        tokens[0] = 1
    monkeypatch.setattr(lm_data, "_encoded", lambda *a: pytest.fail("encoded again"))
    assert np.array_equal(token_array(stories, tokenizer, tmp_path), tokens)


def test_an_interrupted_encoding_leaves_no_cache_file(tmp_path, stories, monkeypatch):
    tokenizer = bpe_tokenizer(stories, 270, tmp_path)
    real = lm_data._encoded

    def dies_midway(path, tok):
        pieces = real(path, tok)
        yield next(pieces)
        raise KeyboardInterrupt  # a kill after the first story was written

    monkeypatch.setattr(lm_data, "_encoded", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        token_array(stories, tokenizer, tmp_path)
    assert list((tmp_path / "tokens").iterdir()) == []
    monkeypatch.setattr(lm_data, "_encoded", real)
    assert len(token_array(stories, tokenizer, tmp_path)) > 0


def test_a_sidecar_missing_after_a_kill_means_encode_again(tmp_path, stories):
    tokenizer = bpe_tokenizer(stories, 270, tmp_path)
    tokens = np.array(token_array(stories, tokenizer, tmp_path))
    for sidecar in (tmp_path / "tokens").glob("*.json"):
        sidecar.unlink()  # killed between writing the .bin and its sidecar
    assert np.array_equal(token_array(stories, tokenizer, tmp_path), tokens)


def test_get_batch_shapes_shift_and_determinism():
    tokens = np.arange(1000, dtype=np.uint16)
    x, y = get_batch(tokens, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8) and x.dtype == y.dtype == torch.long
    assert torch.equal(y, x + 1) and torch.equal(x[:, 1:], x[:, :-1] + 1)
    assert int(y.max()) <= 999
    again, _ = get_batch(tokens, 5, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_char_tokenizer_round_trip_and_files(tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak."
    tokenizer = CharTokenizer.from_text(text)
    assert tokenizer.vocab_size == len(set(text))
    assert tokenizer.decode(tokenizer.encode(text)) == text
    tokenizer.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, CharTokenizer) and loaded.encode(text) == tokenizer.encode(text)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizer.encode("Z")


def test_shakespeare_is_split_ninety_ten_by_characters(tmp_path):
    data = load_lm_data("shakespeare", tmp_path)
    text = corpus_files("shakespeare")[0].read_text("utf-8")
    assert len(data.train) == int(0.9 * len(text)) and len(data.val) == len(text) - len(
        data.train)
    assert data.decode(data.val[:40].tolist()) == text[len(data.train):len(data.train) + 40]
    assert data.eot_id is None and data.vocab_size == 65
    assert isinstance(load_tokenizer(data.tokenizer_dir), CharTokenizer)


def test_tinystories_with_an_override_keeps_the_shipped_validation(tmp_path, stories):
    train, val = corpus_files("tinystories", stories)
    assert train == stories and val == DATA / "tinystories" / "tinystories_valid_head.txt"
    data = load_lm_data("tinystories", tmp_path, 270, override=stories)
    assert data.vocab_size == 270 and data.eot_id == 0 and len(data.val) > 100_000
    assert data.encode("Tom had") == load_tokenizer(data.tokenizer_dir).encode("Tom had")


def test_bad_corpus_requests_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus 'wiki'") as error:
        load_lm_data("wiki", tmp_path)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="vocab_size"):
        load_lm_data("tinystories", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        corpus_files("tinystories", tmp_path / "missing.txt")
