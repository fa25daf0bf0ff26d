"""V1 (paper Thm 3.1): KL-regularized RL from the expert, run to convergence, leaves exactly C1(beta).

Each instance runs the policy-gradient flow and BFGS per beta (about a second), so the
random instances are a fixed set of seeds rather than a hypothesis property.
"""

import numpy as np
import pytest

from simulations.checks.v1_sft_after_kl_rl import c1_path, random_instance

SOLVER_PRECISION = 1e-10  # absolute, on SFT losses of order log K (measured: ~1e-15 after the Newton polish)
# Below it p_RL puts mass ~ e^{-1/beta} on some responses and BFGS can wander into logits
# where softmax saturates (seen at beta = 0.1): a limit of the solver, not of V1.
MIN_BETA = 0.25


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("binary", [False, True])
def test_converged_kl_regularized_rl_lands_on_c1(seed, binary):
    rng = np.random.default_rng(seed)
    probs, rewards, weights = random_instance(rng, binary=binary)
    betas = np.exp(rng.uniform(np.log(MIN_BETA), np.log(10.0), size=2))
    path = c1_path(probs, rewards, betas, prompt_weights=weights)
    assert np.all(path.error() < SOLVER_PRECISION), (path.simulated, path.exact)


def test_a_c1_off_by_one_percent_is_caught():
    probs, rewards, weights = random_instance(np.random.default_rng(0))
    path = c1_path(probs, rewards, [0.5], prompt_weights=weights)
    assert np.all(np.abs(path.simulated - 1.01 * path.exact) > 100 * SOLVER_PRECISION)
    assert path.exact[0] > 0.01  # the instance moves the SFT loss visibly
