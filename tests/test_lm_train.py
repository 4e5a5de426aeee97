"""The LM trainer: schedule, learning, exact resume, and checkpoints that refuse to be misused."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from algorithms.lm.checkpoint import (
    CheckpointError, check_compatible, load_checkpoint, load_model, save_checkpoint)
from algorithms.lm.config import LMConfig
from algorithms.lm.data import DATA, CharTokenizer
from algorithms.lm.model import LanguageModel
from algorithms.lm.train import TrainConfig, lr_at, main, train

LM = LMConfig(vocab_size=65, d_model=32, n_layers=2, n_heads=2, max_seq_len=16)
CONFIG = TrainConfig(steps=12, batch_size=8, block_size=16, lr=3e-3, warmup_steps=3,
                     grad_accum=2, eval_every=4, eval_batches=2)


@pytest.fixture(scope="module")
def shakespeare():
    text = (DATA / "shakespeare" / "tinyshakespeare.txt").read_text("utf-8")[:60_000]
    tokenizer = CharTokenizer.from_text(text)
    tokens = np.array(tokenizer.encode(text), dtype=np.uint16)
    return tokens[:54_000], tokens[54_000:]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and two stall when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model(config: LMConfig = LM, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(config)


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_lr_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    config = TrainConfig(steps=100, batch_size=1, block_size=1, lr=1.0, warmup_steps=10)
    warmup = [lr_at(s, config) for s in range(10)]
    assert np.allclose(np.diff(warmup), 1 / 11) and warmup[0] == pytest.approx(1 / 11)
    assert lr_at(10, config) == pytest.approx(1.0)
    assert lr_at(55, config) == pytest.approx(0.55)  # halfway: the mean of lr and min_lr
    decay = [lr_at(s, config) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(100, config) == pytest.approx(0.1) == lr_at(500, config)
    assert lr_at(100, dataclasses.replace(config, min_lr=0.0)) == pytest.approx(0.0)


def test_the_loss_decreases(shakespeare):
    config = dataclasses.replace(CONFIG, steps=60, eval_every=60, warmup_steps=5, lr=1e-2)
    rows = []
    result = train(model(), *shakespeare, config, on_log=rows.append)
    vals = [row["val_loss"] for row in result.history if "val_loss" in row]
    assert vals[0] == pytest.approx(math.log(65), abs=0.3)  # a fresh model is near uniform
    assert vals[-1] < vals[0] - 1.0 and result.final_val_loss == vals[-1]
    assert rows == result.history and result.tokens_seen == 60 * 8 * 16
    assert [row["step"] for row in rows if "lr" in row] == list(range(1, 61))
    assert result.tokens_per_s > 0


def test_a_resumed_run_equals_the_uninterrupted_one(shakespeare, tmp_path):
    straight = train(model(), *shakespeare, CONFIG).history
    saving = dataclasses.replace(CONFIG, checkpoint_every=6)
    first = train(model(), *shakespeare, saving, checkpoint_dir=tmp_path / "ck", stop_after=6)
    assert first.history[-1]["step"] == 6 and load_checkpoint(tmp_path / "ck").step == 6
    # a differently initialised model: everything must come from the checkpoint
    resumed = train(model(seed=1), *shakespeare, saving, checkpoint_dir=tmp_path / "ck",
                    resume=True).history
    assert [sorted(row) for row in resumed] == [sorted(row) for row in straight]
    for a, b in zip(resumed, straight):
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-6, rel=0), (a, b)
    assert load_checkpoint(tmp_path / "ck").step == 12


def test_resume_without_a_checkpoint_starts_fresh_and_refuses_to_overwrite(shakespeare,
                                                                          tmp_path):
    config = dataclasses.replace(CONFIG, steps=2)
    train(model(), *shakespeare, config, checkpoint_dir=tmp_path / "ck", resume=True)
    before = snapshot(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="already holds a checkpoint"):
        train(model(), *shakespeare, config, checkpoint_dir=tmp_path / "ck")
    assert snapshot(tmp_path / "ck") == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="exists and is not a forge checkpoint"):
        train(model(), *shakespeare, config, checkpoint_dir=tmp_path / "other", resume=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.fixture
def checkpoint(shakespeare, tmp_path):
    config = dataclasses.replace(CONFIG, steps=2)
    tokenizer = tmp_path / "tokenizer"
    CharTokenizer.from_text("abc").save(tokenizer)
    train(model(), *shakespeare, config, checkpoint_dir=tmp_path / "ck", tokenizer_dir=tokenizer)
    return tmp_path / "ck"


@pytest.mark.parametrize("change, field", [
    ({"lm": {"d_model": 64}}, "d_model=32, this config has 64"),
    ({"train": {"lr": 1e-3}}, "lr=0.003, this config has 0.001"),
    ({"train": {"steps": 4}}, "steps=2, this config has 4")])
def test_a_mismatched_resume_names_the_field_and_leaves_the_checkpoint(
        shakespeare, checkpoint, change, field):
    before = snapshot(checkpoint)
    lm = dataclasses.replace(LM, **change.get("lm", {}))
    config = dataclasses.replace(CONFIG, **{"steps": 2, **change.get("train", {})})
    with pytest.raises(CheckpointError) as error:
        train(model(lm), *shakespeare, config, checkpoint_dir=checkpoint, resume=True)
    assert str(error.value).startswith("checkpoint was trained with " + field.split(",")[0])
    assert field in str(error.value) and "\n" not in str(error.value)
    assert snapshot(checkpoint) == before


def test_checkpoint_every_may_change_on_resume_and_other_tokenizers_may_not(
        shakespeare, checkpoint, tmp_path):
    loaded = load_checkpoint(checkpoint)
    config = dataclasses.replace(CONFIG, steps=2, checkpoint_every=1)
    check_compatible(loaded, LM, config.to_dict(), tokenizer_vocab_size=65,
                     tokenizer_dir=checkpoint / "tokenizer")
    with pytest.raises(CheckpointError, match="vocab_size=65, the tokenizer has 50"):
        check_compatible(loaded, LM, tokenizer_vocab_size=50)
    CharTokenizer.from_text("xyz").save(tmp_path / "other")
    with pytest.raises(CheckpointError, match="another tokenizer"):
        check_compatible(loaded, LM, tokenizer_dir=tmp_path / "other")


def one_line_error(path, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_corrupt_checkpoint_is_refused_in_one_line_and_left_alone(checkpoint, shakespeare):
    data = bytearray((checkpoint / "model.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (checkpoint / "model.pt").write_bytes(bytes(data))
    one_line_error(checkpoint, "model.pt is corrupt")
    before = snapshot(checkpoint)
    with pytest.raises(CheckpointError, match="corrupt"):
        train(model(), *shakespeare, dataclasses.replace(CONFIG, steps=2),
              checkpoint_dir=checkpoint, resume=True)
    assert snapshot(checkpoint) == before


def test_foreign_folders_and_files_are_not_checkpoints(checkpoint, tmp_path):
    one_line_error(tmp_path / "nothing", "no checkpoint at")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"weight": torch.randn(3)}, foreign / "model.pt")
    one_line_error(foreign, "not a forge checkpoint")
    one_line_error(foreign / "model.pt", "not a forge checkpoint")
    (foreign / "checkpoint.json").write_text(json.dumps({"hello": 1}))
    one_line_error(foreign, "not a forge checkpoint")
    (foreign / "checkpoint.json").write_text("{not json")
    one_line_error(foreign, "not a forge checkpoint")
    manifest = json.loads((checkpoint / "checkpoint.json").read_text())
    (checkpoint / "checkpoint.json").write_text(json.dumps({**manifest, "version": 99}))
    one_line_error(checkpoint, "unknown checkpoint version 99")


def test_an_unreadable_torch_file_is_refused_even_with_a_matching_hash(checkpoint):
    import hashlib
    (checkpoint / "model.pt").write_bytes(b"not a torch file at all")
    manifest = json.loads((checkpoint / "checkpoint.json").read_text())
    manifest["files"]["model.pt"] = hashlib.sha256(b"not a torch file at all").hexdigest()
    (checkpoint / "checkpoint.json").write_text(json.dumps(manifest))
    one_line_error(checkpoint, "not a readable torch file")


def test_a_kill_between_the_renames_leaves_a_loadable_checkpoint(checkpoint, shakespeare):
    old = checkpoint.with_name("ck.old")
    checkpoint.rename(old)  # the moment after path -> path.old, before path.tmp -> path
    checkpoint.with_name("ck.tmp").mkdir()  # and an unfinished new one
    assert load_checkpoint(checkpoint).step == 2
    net, loaded = load_model(checkpoint)
    assert isinstance(net, LanguageModel) and not net.training and loaded.tokenizer_dir
    save_checkpoint(checkpoint, net, None, 3, LM, loaded.train_config, loaded.history)
    assert load_checkpoint(checkpoint).step == 3
    assert not old.exists() and not checkpoint.with_name("ck.tmp").exists()


def test_load_model_restores_the_trained_weights(shakespeare, tmp_path):
    config = dataclasses.replace(CONFIG, steps=3)
    result = train(model(), *shakespeare, config, checkpoint_dir=tmp_path / "ck")
    net, loaded = load_model(tmp_path / "ck")
    x = torch.randint(65, (2, 16))
    assert torch.equal(net(x), result.model.eval()(x)) and loaded.history == result.history
    assert set(loaded.optimizer_state) == {"state", "param_groups"}


@pytest.mark.parametrize("changes, match", [
    ({"block_size": 32}, "block_size=32 exceeds the model's max_seq_len=16"),
    ({"batch_size": 7}, "not divisible by world_size × grad_accum = 1 × 2"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"autocast": "fp8"}, "autocast must be one of")])
def test_bad_configs_are_one_line_value_errors(shakespeare, changes, match):
    with pytest.raises(ValueError, match=match) as error:
        train(model(), *shakespeare, dataclasses.replace(CONFIG, **changes))
    assert "\n" not in str(error.value)


def test_data_shorter_than_a_block_is_refused(shakespeare):
    with pytest.raises(ValueError, match="validation data has 10 tokens"):
        train(model(), shakespeare[0], shakespeare[1][:10], CONFIG)


def test_train_config_round_trips_and_rejects_unknown_keys():
    assert TrainConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ValueError, match="unknown TrainConfig key 'lr_max'"):
        TrainConfig.from_dict({**CONFIG.to_dict(), "lr_max": 1})


def test_main_trains_writes_history_and_resumes(tmp_path, capsys):
    args = ["--corpus", "shakespeare", "--out", str(tmp_path / "run"), "--d-model", "32",
            "--n-layers", "1", "--n-heads", "2", "--steps", "3", "--batch-size", "4",
            "--block-size", "16", "--eval-every", "2", "--eval-batches", "1",
            "--warmup-steps", "1", "--device", "cpu"]
    main(args)
    summary = json.loads((tmp_path / "run" / "history.json").read_text())
    assert summary["world_size"] == 1 and summary["history"][-1]["step"] == 3
    loaded = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert loaded.step == 3 and (loaded.tokenizer_dir / "chars.json").is_file()
    assert sum(line.startswith("step") for line in capsys.readouterr().out.splitlines()) == 3
    main(args + ["--resume"])  # already finished: continues nothing, changes nothing
    assert load_checkpoint(tmp_path / "run" / "checkpoint").step == 3


def test_the_torchrun_entry_reports_bad_input_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "algorithms.lm.train", "--corpus",
                           "shakespeare", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                           "--block-size", "64", "--max-seq-len", "32", "--steps", "1"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: block_size=64 exceeds the model's max_seq_len=32"]
    assert not out.exists()
