"""Tabular Dyna-Q and Dyna-Q+ (Sutton & Barto, 2nd ed., 2018, §8.2–8.3), numpy only.

Tabular Dyna-Q (the box of §8.2), for each real step in state S:

    (b) A ← ε-greedy(S, Q)                               (ties broken at random)
    (c) take A; observe R, S'
    (d) Q(S, A) ← Q(S, A) + α [R + γ max_a Q(S', a) − Q(S, A)]     direct RL: Q-learning
    (e) Model(S, A) ← R, S'                              the environment is deterministic
    (f) n times:  S ← a random previously observed state
                  A ← a random action previously taken in S
                  R, S' ← Model(S, A)
                  Q(S, A) ← Q(S, A) + α [R + γ max_a Q(S', a) − Q(S, A)]

Dyna-Q+ (§8.3) plans with the reward R + κ √τ, where τ is the number of real time steps since
(S, A) was last tried, so that long-untried actions look worth retrying; and, as the book's
footnote to Figure 8.4 says, the actions never tried from a visited state may be planned with
too, modelled as leading back to the same state with reward 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from algorithms.model_based.mazes import Maze


def argmax_random(values: np.ndarray, rng: np.random.Generator) -> int:
    """An index of the largest value, ties broken uniformly at random (Figure 8.2's agents
    depend on it: with Q = 0 everywhere a fixed tie-break walks into the same wall forever)."""
    best = np.flatnonzero(values == values.max())
    return int(best[0]) if len(best) == 1 else int(best[rng.integers(len(best))])


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """A uniformly random action with probability ε, else a greedy one (random ties)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    return argmax_random(q_row, rng)


@dataclass
class DynaQ:
    """A Dyna-Q (``kappa = 0``) or Dyna-Q+ (``kappa > 0``) agent on a finite deterministic MDP.

    ``q`` is the action-value table, ``updates`` counts every Q update made (direct and
    planned), ``t`` the real steps taken."""

    n_states: int
    n_actions: int
    alpha: float = 0.1  # step size α
    gamma: float = 0.95  # discount γ
    n_planning: int = 5  # n: planning updates per real step
    kappa: float = 0.0  # κ of the Dyna-Q+ bonus κ√τ; 0 is plain Dyna-Q
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.q = np.zeros((self.n_states, self.n_actions))
        self.model_reward = np.zeros((self.n_states, self.n_actions))
        self.model_next = np.full((self.n_states, self.n_actions), -1, dtype=np.int64)
        self.last_tried = np.zeros((self.n_states, self.n_actions))  # real step of the last try
        self.observed: list[int] = []  # states in the order first seen
        self.tried: dict[int, list[int]] = {}  # state → actions in its model
        self.updates = 0
        self.t = 0

    @property
    def plus(self) -> bool:
        return self.kappa > 0

    def act(self, state: int, epsilon: float) -> int:
        return epsilon_greedy(self.q[state], epsilon, self.rng)

    def q_update(self, s: int, a: int, r: float, s_next: int) -> float:
        """Q(s, a) += α [r + γ max_a' Q(s', a') − Q(s, a)]; returns the TD error."""
        delta = r + self.gamma * self.q[s_next].max() - self.q[s, a]
        self.q[s, a] += self.alpha * delta
        self.updates += 1
        return float(delta)

    def model_update(self, s: int, a: int, r: float, s_next: int) -> None:
        """Model(S, A) ← R, S' (step (e)); Dyna-Q+ also records when (S, A) was tried and, on the
        first visit to S, models its other actions as "stay put, reward 0"."""
        if s not in self.tried:
            self.observed.append(s)
            self.tried[s] = []
            if self.plus:  # the footnote's initial model of untried actions
                self.tried[s] = list(range(self.n_actions))
                self.model_next[s] = s
                self.model_reward[s] = 0.0
        if a not in self.tried[s]:
            self.tried[s].append(a)
        self.model_next[s, a] = s_next
        self.model_reward[s, a] = r
        self.last_tried[s, a] = self.t

    def plan(self) -> None:
        """Step (f): n updates from simulated experience of previously observed (S, A)."""
        for _ in range(self.n_planning):
            s = self.observed[self.rng.integers(len(self.observed))]
            actions = self.tried[s]
            a = actions[self.rng.integers(len(actions))]
            r = self.model_reward[s, a]
            if self.plus:  # R + κ √τ, τ = real steps since (S, A) was last tried
                r += self.kappa * np.sqrt(self.t - self.last_tried[s, a])
            self.q_update(s, a, r, int(self.model_next[s, a]))

    def learn(self, s: int, a: int, r: float, s_next: int) -> None:
        """Steps (d)–(f) after one real transition."""
        self.t += 1
        self.q_update(s, a, r, s_next)
        self.model_update(s, a, r, s_next)
        self.plan()


def run_episodes(maze: Maze, agent: DynaQ, episodes: int, epsilon: float = 0.1,
                 max_steps: int = 100_000) -> np.ndarray:
    """Figure 8.2's protocol: ``episodes`` episodes from the start to the goal, learning on every
    step; returns the number of steps each episode took."""
    next_state, reward = maze.transitions()
    goal = maze.is_goal()
    steps = np.zeros(episodes, dtype=np.int64)
    for episode in range(episodes):
        s = maze.start_state
        while not goal[s] and steps[episode] < max_steps:
            a = agent.act(s, epsilon)
            s_next = int(next_state[s, a])
            agent.learn(s, a, float(reward[s, a]), s_next)
            s = s_next
            steps[episode] += 1
    return steps


def run_changing(before: Maze, after: Maze, change_step: int, total_steps: int, agent: DynaQ,
                 epsilon: float = 0.1) -> np.ndarray:
    """Figures 8.4 and 8.5's protocol: ``total_steps`` real steps, the maze switching from
    ``before`` to ``after`` at ``change_step``; reaching the goal gives +1 and puts the agent back
    at the start. Returns the cumulative reward after each step."""
    models = {False: before.transitions(), True: after.transitions()}
    goal = before.is_goal()
    cumulative = np.zeros(total_steps)
    s, total = before.start_state, 0.0
    for t in range(total_steps):
        next_state, reward = models[t >= change_step]
        a = agent.act(s, epsilon)
        s_next, r = int(next_state[s, a]), float(reward[s, a])
        agent.learn(s, a, r, s_next)
        total += r
        cumulative[t] = total
        s = before.start_state if goal[s_next] else s_next
    return cumulative


def greedy_path(maze: Maze, q: np.ndarray, max_steps: int | None = None) -> list[int]:
    """The states visited following argmax_a Q (first index on ties) from the start until the
    goal, a revisited state (a loop: the greedy policy never arrives) or ``max_steps``."""
    next_state, _ = maze.transitions()
    goal = maze.is_goal()
    path, s = [maze.start_state], maze.start_state
    for _ in range(max_steps or maze.n_states):
        if goal[s]:
            break
        s = int(next_state[s, int(np.argmax(q[s]))])
        if s in path:
            path.append(s)
            break
        path.append(s)
    return path


def reaches_goal(maze: Maze, path: list[int]) -> bool:
    return path[-1] in maze.goal_states
