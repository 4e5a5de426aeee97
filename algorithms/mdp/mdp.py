"""A finite MDP as arrays: the object every dynamic-programming algorithm in forge works on.

Sutton & Barto (2nd ed., 2018) write the dynamics as the four-argument p(s', r | s, a) (eq. 3.2).
DP only ever needs two of its marginals, so that is all we store:

    P[s, a, s'] = p(s' | s, a)                        (eq. 3.4)
    R[s, a]     = r(s, a) = Σ_s' p(s'|s,a) r(s,a,s')   (eq. 3.5)

Every backup Σ_{s',r} p(s',r|s,a)[r + γ v(s')] equals R[s, a] + γ Σ_s' P[s, a, s'] v(s'), so
rewards that depend on s' lose nothing by being averaged here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# gymnasium's toy-text format: P[s][a] = [(probability, next_state, reward, terminated), ...]
GymnasiumP = Mapping[int, Mapping[int, Sequence[tuple[float, int, float, bool]]]]


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite MDP (S&B §3.1) with its dynamics as dense arrays.

    Terminal states (S&B §3.4) are absorbing: every action loops back with reward 0, so their value
    is 0 under every policy and an episodic task fits the same equations as a continuing one.

    Some tasks allow only some actions in some states (the gambler cannot stake more than he
    has). ``action_mask[s, a]`` is False for those; they still need a valid row in ``P`` but no
    algorithm ever evaluates or chooses them.

    ``shape`` and ``layout`` describe grid worlds for plotting: state ``s`` is the cell
    ``divmod(s, shape[1])`` and ``layout`` holds one string per grid row with a character per cell
    (``S`` start, ``G`` goal, ``H`` hole, ``C`` cliff, ``T`` terminal, ``A``/``B`` the special
    states of Example 3.5, anything else an ordinary cell).
    """

    P: np.ndarray
    R: np.ndarray
    gamma: float
    terminal: np.ndarray | None = None
    action_mask: np.ndarray | None = None
    name: str = "MDP"
    shape: tuple[int, int] | None = None
    layout: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        P = np.array(self.P, dtype=np.float64)
        R = np.array(self.R, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        n_states, n_actions = P.shape[:2]
        if R.shape != (n_states, n_actions):
            raise ValueError(f"R must have shape {(n_states, n_actions)}, got {R.shape}")
        if (P < 0).any() or not np.allclose(P.sum(axis=2), 1.0, rtol=0.0, atol=1e-9):
            raise ValueError("every row P[s, a, :] must be a probability distribution")
        if not np.isfinite(R).all():
            raise ValueError("R must be finite")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")

        terminal = np.zeros(n_states, bool) if self.terminal is None else np.array(self.terminal)
        if terminal.shape != (n_states,) or terminal.dtype != bool:
            raise ValueError(f"terminal must be a boolean array of shape ({n_states},)")
        if not (np.allclose(P[terminal, :, terminal], 1.0) and np.allclose(R[terminal], 0.0)):
            raise ValueError("terminal states must loop to themselves with reward 0")

        mask = (np.ones((n_states, n_actions), bool) if self.action_mask is None
                else np.array(self.action_mask))
        if mask.shape != (n_states, n_actions) or mask.dtype != bool:
            raise ValueError(f"action_mask must be a boolean array of shape {P.shape[:2]}")
        if not mask[~terminal].any(axis=1).all():
            raise ValueError("every non-terminal state needs at least one allowed action")

        if self.shape is not None and self.shape[0] * self.shape[1] != n_states:
            raise ValueError(f"grid shape {self.shape} does not hold {n_states} states")
        if self.layout is not None and (self.shape is None or [len(row) for row in self.layout]
                                        != [self.shape[1]] * self.shape[0]):
            raise ValueError("layout needs a grid shape and one character per cell")
        if self.action_names is not None and len(self.action_names) != n_actions:
            raise ValueError(f"need {n_actions} action names, got {len(self.action_names)}")

        for field, value in (("P", P), ("R", R), ("terminal", terminal), ("action_mask", mask)):
            value.flags.writeable = False  # frozen means frozen: algorithms must not edit the model
            object.__setattr__(self, field, value)
        object.__setattr__(self, "gamma", float(self.gamma))

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    @property
    def nonterminal(self) -> np.ndarray:
        """Indices of the states whose values DP has to compute (terminal values are 0)."""
        return np.flatnonzero(~self.terminal)

    @property
    def start_state(self) -> int | None:
        """The start cell ``S`` of a grid world's layout; None when the layout marks none."""
        flat = "".join(self.layout or ())
        return flat.index("S") if "S" in flat else None

    def path(self, policy: np.ndarray, start: int) -> list[int]:
        """The states a deterministic ``policy`` (action indices) visits from ``start``, up to
        and including the first terminal state, in an MDP whose transitions it takes are
        deterministic. A policy that never terminates is cut after ``n_states`` steps (some state
        has repeated by then)."""
        path = [start]
        while not self.terminal[path[-1]] and len(path) <= self.n_states:
            successors = self.P[path[-1], policy[path[-1]]]
            if successors.max() < 1.0:
                raise ValueError(f"{self.name}: the transition from state {path[-1]} is random")
            path.append(int(successors.argmax()))
        return path

    def with_gamma(self, gamma: float) -> TabularMDP:
        """The same dynamics with discount ``gamma``."""
        return dataclasses.replace(self, gamma=gamma)

    @classmethod
    def from_gymnasium_P(cls, P_dict: GymnasiumP, n_states: int, n_actions: int, gamma: float,
                         **metadata) -> TabularMDP:
        """Convert a gymnasium toy-text table ``env.unwrapped.P`` into a TabularMDP.

        Repeated ``(s, a, s')`` entries are summed (FrozenLake lists a corner cell once per
        direction that bumps into it). A transition flagged ``terminated`` ends the episode, so its
        next state is terminal: its value must count as 0. We make every such state absorbing
        with reward 0, replacing whatever rows gymnasium lists for it. Those rows are never used
        by gymnasium either, since an episode has to be reset once it terminates (CliffWalking
        lists ordinary moves out of its goal; FrozenLake already lists self-loops).
        """
        P = np.zeros((n_states, n_actions, n_states))
        R = np.zeros((n_states, n_actions))
        ends_episode: dict[int, bool] = {}
        for s in range(n_states):
            for a in range(n_actions):
                for prob, next_state, reward, terminated in P_dict[s][a]:
                    P[s, a, next_state] += prob
                    R[s, a] += prob * reward
                    if prob > 0 and ends_episode.setdefault(next_state, terminated) != terminated:
                        raise ValueError(f"state {next_state} is entered both with and without "
                                         "termination; termination must depend on s' alone")
        terminal = np.zeros(n_states, bool)
        terminal[[s for s, ends in ends_episode.items() if ends]] = True
        P[terminal] = 0.0
        P[terminal, :, terminal] = 1.0
        R[terminal] = 0.0
        return cls(P, R, gamma, terminal=terminal, **metadata)
