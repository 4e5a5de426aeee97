"""Constitutional preference labels: a judge that compares two responses against written
principles (Bai et al. 2022, "Constitutional AI: Harmlessness from AI Feedback", §4.1: the
feedback model is asked which response better follows a principle drawn from the constitution;
Lee et al. 2023, "RLAIF").

A constitution is a TOML file of principles (``constitutions/stories.toml`` ships with forge):
each has a ``name``, the ``text`` an LLM judge would be asked, a ``weight``, and the ``rule``
the offline judge applies instead:

* ``lexicon``: the count of the principle's ``positive`` words minus its ``negative`` words,
  per word of the response;
* ``distinct-bigrams``: the share of the response's word bigrams that are distinct (1 when
  nothing repeats);
* ``ends-sentence``: 1 when the response ends with ., ! or ?, else 0.

:class:`RuleJudge` is that offline judge: each principle votes for the response it scores
higher (abstaining on a tie), and the label is the response with the larger weighted sum of
votes, or none when the votes balance. It is a stand-in for an LLM judge, and every result it
produces is to be labelled as such; an LLM judge plugs in through the same
:class:`Judgement`-returning ``compare``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONSTITUTIONS = Path(__file__).parent / "constitutions"
RULES = ("lexicon", "distinct-bigrams", "ends-sentence")
OFFLINE_JUDGE = "offline rule-based judge (lexicon principles; a stand-in for an LLM judge)"
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Principle:
    name: str
    text: str
    rule: str
    weight: float = 1.0
    positive: frozenset[str] = field(default_factory=frozenset)
    negative: frozenset[str] = field(default_factory=frozenset)

    def score(self, response: str) -> float:
        """The rule's score of ``response`` (higher: follows the principle better)."""
        words = _WORD.findall(response.lower())
        if self.rule == "lexicon":
            if not words:
                return 0.0
            return (sum(w in self.positive for w in words)
                    - sum(w in self.negative for w in words)) / len(words)
        if self.rule == "distinct-bigrams":
            bigrams = list(zip(words, words[1:]))
            return len(set(bigrams)) / len(bigrams) if bigrams else 1.0
        return float(response.rstrip().endswith((".", "!", "?", '."', '!"', '?"')))


@dataclass(frozen=True)
class Constitution:
    name: str
    principles: tuple[Principle, ...]


def load_constitution(path: Path | str = CONSTITUTIONS / "stories.toml") -> Constitution:
    """The constitution in ``path``; ``ValueError`` (one line) naming what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: not a readable TOML constitution ({error})") from None
    raw = data.get("principle")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: a constitution needs at least one [[principle]]")
    principles = []
    for i, item in enumerate(raw):
        where = f"{path}: principle {i + 1}"
        if not isinstance(item.get("name"), str) or not isinstance(item.get("text"), str):
            raise ValueError(f"{where} needs a 'name' and a 'text'")
        if item.get("rule") not in RULES:
            raise ValueError(f"{where} ({item['name']}): 'rule' must be one of {', '.join(RULES)}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ValueError(f"{where} ({item['name']}): 'weight' must be a number > 0")
        words = {k: item.get(k, []) for k in ("positive", "negative")}
        if item["rule"] == "lexicon" and not (words["positive"] or words["negative"]):
            raise ValueError(f"{where} ({item['name']}): a lexicon rule needs positive or "
                             "negative words")
        principles.append(Principle(item["name"], item["text"], item["rule"], float(weight),
                                    frozenset(w.lower() for w in words["positive"]),
                                    frozenset(w.lower() for w in words["negative"])))
    return Constitution(str(data.get("name", path.stem)), tuple(principles))


@dataclass(frozen=True)
class Judgement:
    """``label``: 1 when a is preferred, 0 when b is, None when the judge cannot choose;
    ``votes``: per principle, +1 for a, −1 for b, 0 abstaining; ``margin``: Σ weight · vote."""

    label: int | None
    votes: dict[str, int]
    margin: float


class RuleJudge:
    """The offline judge of the module docstring."""

    name = OFFLINE_JUDGE

    def __init__(self, constitution: Constitution):
        self.constitution = constitution

    def compare(self, prompt: str, a: str, b: str) -> Judgement:
        votes, margin = {}, 0.0
        for principle in self.constitution.principles:
            difference = principle.score(a) - principle.score(b)
            vote = (difference > 0) - (difference < 0)
            votes[principle.name] = vote
            margin += principle.weight * vote
        return Judgement(None if margin == 0 else int(margin > 0), votes, margin)


JUDGE_SYSTEM = ("You compare two continuations of a children's story against a constitution of "
                "principles. Answer with one letter: A or B, the continuation that better "
                "follows the principles taken together.")


def constitution_text(constitution: Constitution) -> str:
    """The principles as the LLM judge reads them: one numbered question each."""
    lines = [f"Constitution: {constitution.name}"]
    lines += [f"{i}. {p.text}" for i, p in enumerate(constitution.principles, 1)]
    return "\n".join(lines)


class LLMJudge:
    """The same comparison asked of an LLM: ``ask(system, shared, prompt) → text`` (for
    ``forge run``, the configured provider through ``Tracker.llm_judge``). The constitution is
    the shared context every call repeats; the answer's first standalone A or B is the label,
    anything else an abstention. Per-principle votes are not asked for (empty)."""

    def __init__(self, constitution: Constitution, ask, name: str = "LLM judge"):
        self.constitution, self.ask = constitution, ask
        self.name = getattr(ask, "name", name)
        self._shared = constitution_text(constitution)

    def compare(self, prompt: str, a: str, b: str) -> Judgement:
        question = (f"Story opening: {prompt}\n\nContinuation A: {a}\n\nContinuation B: {b}\n\n"
                    "Which continuation better follows the constitution? Answer A or B.")
        answer = re.search(r"\b([AB])\b", self.ask(JUDGE_SYSTEM, self._shared, question) or "")
        if answer is None:
            return Judgement(None, {}, 0.0)
        return Judgement(int(answer.group(1) == "A"), {}, 1.0 if answer.group(1) == "A" else -1.0)
