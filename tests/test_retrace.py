import numpy as np
import pytest
import torch as th

from sb3_sacx.retrace import retrace_targets


def naive_retrace(rewards, discounts, q_taken, v_next, log_rhos, mask, lambda_):
    """Element by element from the definition: G_t = r_t + d_t (v_t + c_{t+1} (G_{t+1} - q_{t+1}))."""
    n_batch, n_steps, n_tasks = rewards.shape
    targets = np.full((n_batch, n_steps, n_tasks), np.nan)
    for b in range(n_batch):
        last = max(t for t in range(n_steps) if mask[b, t])
        for k in range(n_tasks):
            for t in reversed(range(last + 1)):
                bootstrap = v_next[b, t, k]
                if t < last:
                    trace = lambda_ * min(1.0, np.exp(log_rhos[b, t + 1, k]))
                    bootstrap += trace * (targets[b, t + 1, k] - q_taken[b, t + 1, k])
                targets[b, t, k] = rewards[b, t, k] + discounts[b, t] * bootstrap
    return targets


def random_batch(seed: int, n_batch: int = 6, n_steps: int = 5, n_tasks: int = 3):
    rng = np.random.default_rng(seed)
    ends = rng.integers(1, n_steps + 1, size=n_batch)  # number of real steps per snippet
    mask = (np.arange(n_steps) < ends[:, None]).astype(np.float64)
    terminated = rng.random((n_batch, n_steps)) < 0.3
    discounts = 0.99 * (1.0 - terminated)
    arrays = dict(
        rewards=rng.normal(size=(n_batch, n_steps, n_tasks)),
        discounts=discounts,
        q_taken=rng.normal(size=(n_batch, n_steps, n_tasks)),
        v_next=rng.normal(size=(n_batch, n_steps, n_tasks)),
        log_rhos=rng.normal(scale=1.5, size=(n_batch, n_steps, n_tasks)),
        mask=mask,
    )
    return arrays


def as_torch(arrays):
    return {key: th.as_tensor(value, dtype=th.float64) for key, value in arrays.items()}


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(4))
def test_matches_naive_reference(lambda_: float, seed: int) -> None:
    arrays = random_batch(seed)
    expected = naive_retrace(**arrays, lambda_=lambda_)
    targets = retrace_targets(**as_torch(arrays), lambda_=lambda_).numpy()
    valid = arrays["mask"].astype(bool)
    np.testing.assert_allclose(targets[valid], expected[valid], rtol=1e-10)


def test_lambda_zero_is_one_step_td() -> None:
    arrays = random_batch(7)
    targets = retrace_targets(**as_torch(arrays), lambda_=0.0).numpy()
    one_step = arrays["rewards"] + arrays["discounts"][..., None] * arrays["v_next"]
    valid = arrays["mask"].astype(bool)
    np.testing.assert_allclose(targets[valid], one_step[valid])


def test_on_policy_full_trace_is_the_n_step_return() -> None:
    # With c = 1 and v_t = q_{t+1} (the value of the action actually taken next), the corrections telescope
    # into the discounted sum of rewards bootstrapped from the last step's value.
    n_steps, gamma = 4, 0.9
    rewards = th.tensor([[[1.0], [2.0], [3.0], [4.0]]])
    q_taken = th.tensor([[[0.0], [5.0], [6.0], [7.0]]])
    v_next = th.tensor([[[5.0], [6.0], [7.0], [10.0]]])
    targets = retrace_targets(
        rewards, th.full((1, n_steps), gamma), q_taken, v_next, th.zeros(1, n_steps, 1), th.ones(1, n_steps), lambda_=1.0
    )
    expected = sum(gamma**t * (t + 1.0) for t in range(n_steps)) + gamma**n_steps * 10.0
    assert targets[0, 0, 0].item() == pytest.approx(expected)


def test_terminal_and_truncated_steps() -> None:
    gamma = 0.99
    rewards = th.tensor([[[1.0], [0.5]]])
    v_next = th.tensor([[[3.0], [4.0]]])
    q_taken = th.zeros(1, 2, 1)
    mask = th.ones(1, 2)
    # Termination at step 0: nothing after it is bootstrapped, whatever the later values
    terminated = retrace_targets(rewards, th.tensor([[0.0, gamma]]), q_taken, v_next, th.zeros(1, 2, 1), mask)
    assert terminated[0, 0, 0].item() == pytest.approx(1.0)
    # Truncation ends the snippet (mask) but still bootstraps from v(s_{t+1})
    truncated = retrace_targets(rewards, th.full((1, 2), gamma), q_taken, v_next, th.zeros(1, 2, 1), th.tensor([[1.0, 0.0]]))
    assert truncated[0, 0, 0].item() == pytest.approx(1.0 + gamma * 3.0)


def test_garbage_after_the_mask_does_not_leak() -> None:
    arrays = as_torch(random_batch(3))
    arrays["mask"][:, 2:] = 0.0
    clean = retrace_targets(**arrays)
    for key in ("rewards", "q_taken", "v_next", "log_rhos"):
        arrays[key][:, 2:] = float("nan")
    arrays["discounts"][:, 2:] = float("inf")
    dirty = retrace_targets(**arrays)
    assert th.equal(clean[:, :2], dirty[:, :2])
    assert th.isfinite(dirty[:, :2]).all()


def test_importance_weights_are_truncated_at_one() -> None:
    arrays = as_torch(random_batch(5))
    arrays["log_rhos"] = arrays["log_rhos"].abs() + 1.0  # every rho > 1
    clipped = retrace_targets(**arrays)
    arrays["log_rhos"] = th.zeros_like(arrays["log_rhos"])  # rho = 1
    assert th.allclose(clipped, retrace_targets(**arrays))
