import pytest
import torch as th
from torch import nn
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from sb3_sacx.heads import squashed_action_log_prob, squashed_gaussian_log_prob, squashed_gaussian_sample, task_diagonal
from sb3_sacx.policies import CriticEnsemble
from sb3_sacx.retrace import next_in_snippet, previous_in_snippet


def test_squashed_gaussian_log_prob_matches_torch() -> None:
    th.manual_seed(0)
    mean, log_std = th.randn(50, 3, dtype=th.float64), th.randn(50, 3, dtype=th.float64) * 0.5
    pre_squash = mean + log_std.exp() * th.randn(50, 3, dtype=th.float64)
    reference = TransformedDistribution(Normal(mean, log_std.exp()), TanhTransform()).log_prob(th.tanh(pre_squash)).sum(-1)
    th.testing.assert_close(squashed_gaussian_log_prob(mean, log_std, pre_squash), reference)


def test_log_prob_of_a_sample_is_recovered_from_the_action() -> None:
    th.manual_seed(1)
    mean, log_std = th.randn(20, 4, 2, dtype=th.float64), th.full((20, 4, 2), -0.5, dtype=th.float64)
    actions, log_prob = squashed_gaussian_sample(mean, log_std)
    th.testing.assert_close(squashed_action_log_prob(mean, log_std, actions), log_prob)


def test_log_prob_stays_finite_at_saturated_actions() -> None:
    mean, log_std = th.zeros(2, 1), th.zeros(2, 1)
    assert th.isfinite(squashed_action_log_prob(mean, log_std, th.tensor([[1.0], [-1.0]]))).all()
    assert th.isfinite(squashed_gaussian_log_prob(mean, log_std, th.tensor([[30.0], [-30.0]]))).all()


def test_task_diagonal() -> None:
    values = th.arange(2 * 3 * 3, dtype=th.float32).view(2, 3, 3)
    extra_action = th.full((2, 1, 3), -1.0)  # a non-head action after the K heads' ones is ignored
    expected = th.stack([th.diagonal(values[i]) for i in range(2)])
    th.testing.assert_close(task_diagonal(th.cat([values, extra_action], dim=1)), expected)


def mlp_with_action_at(ensemble: CriticEnsemble, critic: int, features: th.Tensor, action: th.Tensor) -> th.Tensor:
    """A plain per-critic MLP that concatenates the action to the input of layer ``action_layer``."""
    hidden = features
    for layer, (weight, bias) in enumerate(zip(ensemble.weights, ensemble.biases)):
        if layer == ensemble.action_layer:
            hidden = th.cat([hidden, action], dim=-1)
            weight = th.cat([weight[critic], ensemble.action_weight[critic]], dim=0)
        else:
            weight = weight[critic]
        hidden = hidden @ weight + bias[critic, 0]
        if layer < len(ensemble.weights) - 1:
            hidden = th.relu(hidden)
    return hidden


@pytest.mark.parametrize("action_layer", [0, 1, 2])
def test_critic_ensemble_equals_an_mlp_on_state_and_action(action_layer: int) -> None:
    th.manual_seed(2)
    ensemble = CriticEnsemble(3, input_dim=5, action_dim=2, net_arch=[16, 8], output_dim=4, action_layer=action_layer)
    features, actions = th.randn(6, 5), (th.rand(6, 7, 2) * 2 - 1).requires_grad_()
    values = ensemble(features, actions)
    assert values.shape == (3, 6, 7, 4)
    reference = th.stack(
        [
            th.stack([mlp_with_action_at(ensemble, critic, features, actions[:, m]) for m in range(7)], dim=1)
            for critic in range(3)
        ]
    )
    th.testing.assert_close(values, reference)
    # The actor loss differentiates Q through the actions, the critic loss through the weights
    loss_weights = th.randn_like(values)
    gradients = th.autograd.grad((values * loss_weights).sum(), [actions, *ensemble.parameters()])
    reference_gradients = th.autograd.grad((reference * loss_weights).sum(), [actions, *ensemble.parameters()])
    for gradient, reference_gradient in zip(gradients, reference_gradients):
        th.testing.assert_close(gradient, reference_gradient)


def test_critic_ensemble_initialised_like_linear_layers() -> None:
    ensemble = CriticEnsemble(2, input_dim=10, action_dim=2, net_arch=[64], output_dim=1, action_layer=0)
    bound = 1.0 / (12**0.5)  # nn.Linear's bound for a fan-in of state + action
    assert ensemble.weights[0].abs().max() <= bound and ensemble.action_weight.abs().max() <= bound
    assert isinstance(ensemble.activation, nn.ReLU)


@pytest.mark.parametrize("action_dim", [0, 2])
def test_critic_ensemble_under_bf16_autocast_returns_float32_close_to_float32(action_dim: int) -> None:
    th.manual_seed(3)
    ensemble = CriticEnsemble(2, input_dim=5, action_dim=action_dim, net_arch=[64, 64], output_dim=3)
    features, actions = th.randn(10, 5), (th.rand(10, 4, action_dim) * 2 - 1 if action_dim else None)
    full_precision = ensemble(features, actions)
    with th.autocast("cpu", dtype=th.bfloat16):
        mixed_precision = ensemble(features, actions)
    assert mixed_precision.dtype == th.float32
    # bfloat16 keeps 8 bits of mantissa: close, but not equal, or the layers did not run in bfloat16
    assert not th.equal(mixed_precision, full_precision)
    th.testing.assert_close(mixed_precision, full_precision, rtol=0.05, atol=0.02)


def test_next_and_previous_in_snippet() -> None:
    values = th.arange(2 * 3, dtype=th.float32).view(2, 3, 1)  # [B=2, T=3, 1]
    th.testing.assert_close(next_in_snippet(values)[:, :, 0], th.tensor([[1.0, 2.0, 0.0], [4.0, 5.0, 0.0]]))
    th.testing.assert_close(previous_in_snippet(values)[:, :, 0], th.tensor([[0.0, 0.0, 1.0], [0.0, 3.0, 4.0]]))
    # A value moved to the next step and back is where it was, except at the snippet's first step
    th.testing.assert_close(previous_in_snippet(next_in_snippet(values))[:, 1:], values[:, 1:])
