"""The preference file format (``algorithms.preference.pairs``): written atomically, read back
exactly, and refused line by line when malformed; a vocabulary that does not match is refused."""

from __future__ import annotations

import json

import pytest

from algorithms.preference.pairs import (PreferencePair, check_vocabulary, chosen_rejected,
                                         gold_labels, pad_rows, read_meta, read_pairs,
                                         write_pairs)

PAIR = PreferencePair(prompt=(5, 6), a=(7, 8, 9), b=(10,), split="train", reward_a=0.5,
                      reward_b=-0.25, labels={"gold": 1, "noisy": 0},
                      flipped={"gold": False, "noisy": True},
                      text={"prompt": "Once", "a": "happy", "b": "sad"})


def test_pairs_round_trip_and_orient_by_an_annotator(tmp_path):
    write_pairs(tmp_path, [PAIR, PAIR], vocab_size=32, meta={"base_model": "x"})
    assert not list(tmp_path.glob("*.partial"))
    assert read_pairs(tmp_path) == [PAIR, PAIR]
    assert read_meta(tmp_path) == {"vocab_size": 32, "base_model": "x"}
    chosen, rejected = chosen_rejected([PAIR], "noisy")
    assert chosen == [(5, 6, 10)] and rejected == [(5, 6, 7, 8, 9)]
    ids, lengths = pad_rows(chosen + rejected)
    assert ids.shape == (2, 5) and lengths.tolist() == [3, 5] and ids[0, 3:].tolist() == [0, 0]
    assert gold_labels([PAIR]).tolist() == [1]
    with pytest.raises(ValueError, match="no label by annotator 'bt'"):
        chosen_rejected([PAIR], "bt")


@pytest.mark.parametrize("change, needle", [
    (lambda r: "not json", "not JSON"),
    (lambda r: [1, 2], "must be a JSON object"),
    (lambda r: {k: v for k, v in r.items() if k != "labels"}, "lacks 'labels'"),
    (lambda r: {**r, "a": [1, -2]}, "'a' must be a list of token ids"),
    (lambda r: {**r, "prompt": []}, "'prompt' must be a list of token ids"),
    (lambda r: {**r, "labels": {"gold": 2}}, "'labels' must map annotator names to 0 or 1"),
    (lambda r: {**r, "split": "dev"}, "'split' must be one of train, test"),
    (lambda r: {**r, "reward_a": float("nan")}, "'reward_a' must be a finite number"),
    (lambda r: {**r, "flipped": {"gold": 1}}, "'flipped' must map annotator names"),
])
def test_a_malformed_record_is_refused_with_its_line(tmp_path, change, needle):
    good = json.dumps(PAIR.to_json())
    bad = change(PAIR.to_json())
    path = tmp_path / "pairs.jsonl"
    path.write_text(good + "\n" + (bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    with pytest.raises(ValueError) as caught:
        read_pairs(path)
    message = str(caught.value)
    assert f"{path}:2:" in message and needle in message and "\n" not in message


def test_an_empty_or_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no such preference file"):
        read_pairs(tmp_path / "nowhere.jsonl")
    (tmp_path / "pairs.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="holds no records"):
        read_pairs(tmp_path)


def test_a_tokenizer_mismatch_is_refused():
    check_vocabulary([PAIR], vocab_size=32, data_vocab=32)
    with pytest.raises(ValueError, match="tokenizers do not match"):
        check_vocabulary([PAIR], vocab_size=64, data_vocab=32)
    with pytest.raises(ValueError, match="token id 10, outside"):
        check_vocabulary([PAIR], vocab_size=8, data_vocab=8)


def test_a_malformed_configured_preference_file_is_one_line_and_changes_nothing(project):
    from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint

    write_pairs(project / "prefs", [PAIR], vocab_size=32)
    with (project / "prefs" / "pairs.jsonl").open("a") as f:
        f.write('{"prompt": [1], "a": "oops"}\n')
    (project / "forge.toml").write_text('[wandb]\nmode = "disabled"\n[data]\n'
                                        'preferences = "prefs/pairs.jsonl"\n')
    before = tree_fingerprint(project)
    outcome = forge("run", "week9", "--only", "reward-models", "--profile", "smoke")
    assert_one_line_error(outcome, "[data] preferences", "pairs.jsonl:2", "lacks")
    assert tree_fingerprint(project) == before
