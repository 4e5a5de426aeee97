"""A2C's ``device``: "cpu" and "auto" (the CPU on a machine without CUDA, CUDA on one with it)
both train, and the agent comes back on the CPU."""

import numpy as np
import pytest
import torch

from algorithms.policy.a2c import A2CConfig, train
from algorithms.policy.networks import resolve_device


def test_auto_resolves_to_cuda_only_where_it_exists():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_a2c_trains_on_the_device_and_returns_the_agent_on_the_cpu(device):
    logged = []
    config = A2CConfig(total_timesteps=512, n_envs=4, n_steps=16, device=device)
    result = train(config, log=lambda metrics, step: logged.append(metrics))
    assert result.global_step == 512 and len(logged) == 8
    assert all(np.isfinite(m["losses/value_loss"]) for m in logged)
    assert all(p.device.type == "cpu" for p in result.agent.parameters())
