"""Prioritized sweeping for a deterministic environment (Sutton & Barto, 2nd ed., 2018, §8.4,
the box "Prioritized sweeping for a deterministic environment"; Moore & Atkeson 1993, Peng &
Williams 1993), and Example 8.4's measure: Q updates until the greedy policy is optimal.

For each real step S, A → R, S':

    Model(S, A) ← R, S'
    P ← |R + γ max_a Q(S', a) − Q(S, A)|;  if P > θ: insert S, A into PQueue with priority P
    repeat n times while PQueue is not empty:
        S, A ← first(PQueue);  R, S' ← Model(S, A)
        Q(S, A) ← Q(S, A) + α [R + γ max_a Q(S', a) − Q(S, A)]
        for all S̄, Ā predicted to lead to S:
            R̄ ← predicted reward for S̄, Ā, S
            P ← |R̄ + γ max_a Q(S, a) − Q(S̄, Ā)|;  if P > θ: insert S̄, Ā with priority P

The queue holds each pair once, at the highest priority it was inserted with (a heap with lazy
deletion: a re-inserted pair's older entries are skipped when popped).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from algorithms.model_based.dyna import DynaQ, epsilon_greedy, greedy_path, reaches_goal
from algorithms.model_based.mazes import Maze


@dataclass
class PrioritizedSweeping:
    """The agent of the box in §8.4; ``updates`` counts the Q updates of the sweeps."""

    n_states: int
    n_actions: int
    alpha: float = 0.5  # step size α
    gamma: float = 0.95  # discount γ
    n_planning: int = 5  # n: queue pops per real step
    theta: float = 1e-4  # θ: smallest priority that enters the queue
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.q = np.zeros((self.n_states, self.n_actions))
        self.model: dict[tuple[int, int], tuple[float, int]] = {}  # (S, A) → (R, S')
        self.predecessors: dict[int, set[tuple[int, int]]] = {}  # S' → {(S̄, Ā) leading to it}
        self.heap: list[tuple[float, int, int]] = []  # (−P, S, A): heapq pops the smallest
        self.queued: dict[tuple[int, int], float] = {}  # the live priority of each queued pair
        self.updates = 0

    def act(self, state: int, epsilon: float) -> int:
        return epsilon_greedy(self.q[state], epsilon, self.rng)

    def priority(self, s: int, a: int) -> float:
        """|R + γ max_a' Q(S', a') − Q(S, A)| under the model."""
        r, s_next = self.model[(s, a)]
        return abs(r + self.gamma * self.q[s_next].max() - self.q[s, a])

    def insert(self, s: int, a: int, p: float) -> None:
        """Queue (S, A) with priority P if P > θ and it is not queued with at least P already."""
        if p > self.theta and p > self.queued.get((s, a), 0.0):
            self.queued[(s, a)] = p
            heapq.heappush(self.heap, (-p, s, a))

    def pop(self) -> tuple[int, int] | None:
        """The queued pair of highest priority (None once the queue is empty)."""
        while self.heap:
            neg_p, s, a = heapq.heappop(self.heap)
            if self.queued.get((s, a)) == -neg_p:  # not superseded by a higher re-insertion
                del self.queued[(s, a)]
                return s, a
        return None

    def learn(self, s: int, a: int, r: float, s_next: int) -> None:
        """Model update, queue the real pair, then up to n sweeps through the queue."""
        self.model[(s, a)] = (r, s_next)
        self.predecessors.setdefault(s_next, set()).add((s, a))
        self.insert(s, a, self.priority(s, a))
        for _ in range(self.n_planning):
            pair = self.pop()
            if pair is None:
                break
            s_top, a_top = pair
            r_top, s_top_next = self.model[pair]
            target = r_top + self.gamma * self.q[s_top_next].max()
            self.q[s_top, a_top] += self.alpha * (target - self.q[s_top, a_top])
            self.updates += 1
            for s_bar, a_bar in self.predecessors.get(s_top, ()):
                self.insert(s_bar, a_bar, self.priority(s_bar, a_bar))


Agent = DynaQ | PrioritizedSweeping


def updates_until_optimal(maze: Maze, agent: Agent, epsilon: float = 0.1,
                          tolerance: float = 0.0, max_episodes: int = 1000,
                          max_steps: int = 1_000_000) -> tuple[int, int, bool]:
    """Example 8.4's measure: run episodes (ε-greedy, learning on every step) until the greedy
    policy's path from the start reaches the goal in at most (1 + ``tolerance``) × the shortest
    path's steps. Returns (Q updates made by then, episodes, True); if that never happens
    within ``max_episodes``, (the updates made in them, ``max_episodes``, False)."""
    next_state, reward = maze.transitions()
    goal = maze.is_goal()
    limit = maze.shortest_path_length() * (1 + tolerance)
    for episode in range(1, max_episodes + 1):
        s, steps = maze.start_state, 0
        while not goal[s] and steps < max_steps:
            a = agent.act(s, epsilon)
            s_next = int(next_state[s, a])
            agent.learn(s, a, float(reward[s, a]), s_next)
            s, steps = s_next, steps + 1
        path = greedy_path(maze, agent.q)
        if reaches_goal(maze, path) and len(path) - 1 <= limit:
            return agent.updates, episode, True
    return agent.updates, max_episodes, False

