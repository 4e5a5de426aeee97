"""Experience replay for DQN and its Rainbow parts: a uniform buffer (Mnih et al. 2015), n-step
transitions (Sutton 1988; Hessel et al. 2018, §"Multi-step learning") and proportional prioritized
replay on a sum-tree (Schaul, Quan, Antonoglou & Silver 2016, §3.3 and App. B.2.1).

Every stored transition is (s, a, R, s', d):

    R = Σ_{k<m} γ^k r_{t+k}        the m-step discounted reward (m = n, or fewer at an episode end)
    d = γ^m · (1 − terminated)      the discount of the bootstrap, 0 after a true terminal

so that every learner's target is ``y = R + d · Q̂(s')`` whatever n is. A time-limit truncation
is *not* a terminal: its d stays γ^m and s' is the real last observation (Pardo et al. 2018).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

# ----------------------------------------------------------------------------- n-step returns


class NStepAccumulator:
    """Turns each env's stream of one-step transitions into n-step ones (one queue per env).

    A transition from s_t leaves the queue once its n rewards are in, with R = Σ_{k<n} γ^k r_{t+k},
    s' = s_{t+n} and d = γ^n. When the episode ends at step t+m (m ≤ n) every pending transition
    is flushed: it sums the rewards it has up to the end, and bootstraps from the episode's real
    last observation with γ^m — unless the end was a termination, where d = 0. A truncation
    therefore still bootstraps; a termination cuts the return.
    """

    def __init__(self, n_envs: int, n: int, gamma: float) -> None:
        if n < 1:
            raise ValueError(f"n-step returns need n ≥ 1, got {n}")
        self.n, self.gamma = n, gamma
        self.queues: list[deque] = [deque() for _ in range(n_envs)]

    def _emit(self, queue: deque, next_obs: np.ndarray, terminated: bool) -> tuple:
        obs, action = queue[0][0], queue[0][1]
        ret = sum(self.gamma ** k * r for k, (_, _, r) in enumerate(queue))
        discount = 0.0 if terminated else self.gamma ** len(queue)
        return obs, action, ret, next_obs, discount

    def push(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
             next_obs: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> list[tuple]:
        """One vector step; ``next_obs`` must hold the real s_{t+1} of every env (a finished
        episode's last observation, not the next episode's first). Returns the completed
        transitions as (s, a, R, s', d) tuples."""
        out = []
        for i, queue in enumerate(self.queues):
            queue.append((obs[i], actions[i], float(rewards[i])))
            if terminated[i] or truncated[i]:
                while queue:  # the episode is over: every pending start gets its (shorter) return
                    out.append(self._emit(queue, next_obs[i], bool(terminated[i])))
                    queue.popleft()
            elif len(queue) == self.n:
                out.append(self._emit(queue, next_obs[i], False))
                queue.popleft()
        return out


# ----------------------------------------------------------------------------- uniform replay


@dataclass
class Batch:
    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray  # R, the (n-step) discounted reward
    next_obs: np.ndarray
    discounts: np.ndarray  # d = γ^m (1 − terminated)
    indices: np.ndarray  # where the samples sit in the buffer (for priority updates)
    weights: np.ndarray  # importance-sampling weights (ones for uniform replay)


class ReplayBuffer:
    """A circular buffer of the last ``capacity`` transitions, sampled uniformly (Mnih et al.
    2015, Alg. 1: "sample random minibatch of transitions from D")."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...],
                 obs_dtype: type = np.float32) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.returns = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.pos, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, ret: float, next_obs: np.ndarray,
            discount: float) -> int:
        """Store one transition over the oldest; returns its slot."""
        i = self.pos
        self.obs[i], self.next_obs[i] = obs, next_obs
        self.actions[i], self.returns[i], self.discounts[i] = action, ret, discount
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return i

    def _batch(self, idx: np.ndarray, weights: np.ndarray) -> Batch:
        return Batch(self.obs[idx].astype(np.float32), self.actions[idx], self.returns[idx],
                     self.next_obs[idx].astype(np.float32), self.discounts[idx], idx,
                     weights.astype(np.float32))

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.0) -> Batch:
        idx = rng.integers(0, self.size, size=batch_size)
        return self._batch(idx, np.ones(batch_size))

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Uniform replay keeps no priorities."""


# ----------------------------------------------------------------------------- prioritized replay


class SumTree:
    """A binary tree whose leaves hold the priorities p_i and whose inner nodes hold the sums of
    their children: the total Σ p_i is the root, and the leaf at a prefix sum u ∈ [0, Σ p) is
    found in O(log N) by descending left while u < the left child's sum (Schaul et al. 2016,
    App. B.2.1). Vectorised over a batch of updates and queries."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.leaves = 1 << max(0, (capacity - 1).bit_length())  # a power of two ≥ capacity
        self.tree = np.zeros(2 * self.leaves, dtype=np.float64)  # node k's children: 2k, 2k+1

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self.tree[self.leaves + np.asarray(idx)]

    def update(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        nodes = self.leaves + np.asarray(idx, dtype=np.int64)
        self.tree[nodes] = priorities  # a repeated index keeps its last value, as a loop would
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:  # re-add every parent on the paths to the root, level by level
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            nodes = np.unique(nodes // 2)

    def find(self, prefix: np.ndarray) -> np.ndarray:
        """The leaf index i with Σ_{j<i} p_j ≤ u < Σ_{j≤i} p_j for each prefix sum u."""
        u = np.asarray(prefix, dtype=np.float64).copy()
        nodes = np.ones(len(u), dtype=np.int64)
        while nodes[0] < self.leaves:
            left = 2 * nodes
            go_right = u >= self.tree[left]
            u -= np.where(go_right, self.tree[left], 0.0)
            nodes = left + go_right
        return nodes - self.leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritization (Schaul et al. 2016, eq. 1 and §3.4):

        P(i) = p_i^α / Σ_k p_k^α,   p_i = |δ_i| + ε
        w_i = (N · P(i))^(−β) / max_j w_j

    New transitions get the largest priority seen so far, so each is replayed at least once
    soon. A batch is drawn stratified: [0, Σ p^α) is cut into k equal segments and one prefix sum
    is drawn uniformly in each (App. B.2.1). The weights are normalised by the batch's largest
    weight, so they only scale updates down; β is annealed to 1 by the learner."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], alpha: float = 0.6,
                 eps: float = 1e-6, obs_dtype: type = np.float32) -> None:
        super().__init__(capacity, obs_shape, obs_dtype)
        self.alpha, self.eps = alpha, eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0  # max p_i (before the exponent α)

    def add(self, obs: np.ndarray, action: int, ret: float, next_obs: np.ndarray,
            discount: float) -> int:
        i = super().add(obs, action, ret, next_obs, discount)
        self.tree.update(np.array([i]), np.array([self.max_priority ** self.alpha]))
        return i

    def probabilities(self, idx: np.ndarray) -> np.ndarray:
        """P(i) = p_i^α / Σ_k p_k^α."""
        return self.tree[idx] / self.tree.total

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> Batch:
        total = self.tree.total
        bounds = np.linspace(0.0, total, batch_size + 1)
        prefix = rng.uniform(bounds[:-1], bounds[1:])
        idx = np.minimum(self.tree.find(np.minimum(prefix, np.nextafter(total, 0))),
                         self.size - 1)
        weights = (self.size * self.probabilities(idx)) ** (-beta)  # (N·P(i))^−β
        return self._batch(idx, weights / weights.max())

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors) + self.eps  # p_i = |δ_i| + ε
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(indices, priorities ** self.alpha)
