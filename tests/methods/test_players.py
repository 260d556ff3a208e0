"""The players engine (zoo/methods/players.py) on a three-player method written in a few lines
(tests/methods/players_toy.py): periods, a net in two players, gradients that stay with their player, the cache
handed on detached, EMA of a two-net player, weight and per-player gradient clipping, schedulers, resume,
validation, and bad declarations. DDP on 2 ranks is in tests/methods/test_ddp.py."""
from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import quiet_trainer
from tests.methods.players_toy import ThreePlayerToy
from zoo.errors import ConfigError

SHAPE = (1, 8, 8)


def batches(n_batches: int, batch_size: int = 8) -> DataLoader:
    images = torch.rand(n_batches * batch_size, *SHAPE, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(images, torch.zeros(len(images), dtype=torch.long)), batch_size=batch_size)


class Watch(L.Callback):
    """Per optimizer step: the player, and which parameters' gradients changed since the last step."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.leaks: list[tuple[str, str]] = []
        self._grads: dict[str, torch.Tensor | None] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        player = list(pl_module.players)[trainer.optimizers.index(optimizer)]
        self.steps.append(player)
        own = {id(p) for p in pl_module.player_parameters(player)}
        for name, p in pl_module.named_parameters():
            grad = None if p.grad is None else p.grad.detach().clone()
            before = self._grads.get(name)
            changed = (grad is None) != (before is None) or (grad is not None and not torch.equal(grad, before))
            if changed and id(p) not in own:
                self.leaks.append((player, name))
            self._grads[name] = grad


def test_players_update_on_their_periods_and_keep_their_gradients():
    torch.manual_seed(0)
    model, watch = ThreePlayerToy(), Watch()
    trainer = quiet_trainer(max_epochs=1, callbacks=[watch], log_every_n_steps=1)
    trainer.fit(model, batches(12))
    # batch k (from 1) updates D always, G when 2 | k, E when 3 | k, in declaration order
    expected = [p for k in range(1, 13) for p, every in (("discriminator", 1), ("generator", 2), ("encoder", 3))
                if k % every == 0]
    assert watch.steps == expected
    assert (int(model.discriminator_steps), int(model.generator_steps), int(model.encoder_steps)) == (12, 6, 4)
    assert int(model.batches) == 12 and trainer.global_step == 22  # Lightning counts optimizer steps
    assert watch.leaks == []  # no loss reached another player's gradients (toggled_optimizer)
    assert {"train/d_loss", "train/g_loss", "train/e_loss", "train/reconstruction", "train/encoder_steps"} <= set(
        trainer.callback_metrics)


def test_a_net_in_two_players_is_updated_by_both():
    torch.manual_seed(0)
    model = ThreePlayerToy()
    optimizers = model.configure_optimizers()[0]
    names = {id(p): n for n, p in model.named_parameters()}
    owned = [{names[id(p)].split(".")[0] for group in opt.param_groups for p in group["params"]} for opt in optimizers]
    assert owned == [{"discriminator"}, {"generator", "encoder"}, {"encoder"}]


def test_the_cache_reaches_later_players_detached():
    torch.manual_seed(0)
    model, seen = ThreePlayerToy(encoder_period=2), []
    objective = model.objective

    def spy(player, batch, cache):
        if player == "encoder":
            seen.append({k: v.requires_grad for k, v in cache.items()})
        return objective(player, batch, cache)

    model.objective = spy
    quiet_trainer(max_epochs=1).fit(model, batches(4))
    assert seen == [{"z": False, "fake": False}] * 2  # G's fake images, handed on without G's graph


def test_ema_of_a_two_net_player_and_weight_clipping():
    torch.manual_seed(0)
    model = ThreePlayerToy(ema_decay=0.5, clip_value=0.02)
    quiet_trainer(max_epochs=1).fit(model, batches(6))
    for net in ("generator", "encoder"):  # both nets of the EMA player
        ema = dict(getattr(model, f"{net}_ema").module.named_parameters())
        assert int(getattr(model, f"{net}_ema").n_averaged) == 3  # G's player updated on batches 2, 4, 6
        assert any(not torch.equal(p, ema[k]) for k, p in getattr(model, net).named_parameters())
    assert not hasattr(model, "discriminator_ema")
    assert model.sampling_net("generator") is model.generator_ema.module
    # the encoder player clamps the encoder after its steps (batch 3 and 6, the last update of the run)
    weights = torch.cat([p.detach().flatten() for p in model.encoder.parameters()])
    assert weights.abs().max() <= 0.02 + 1e-7


def test_gradient_clipping_per_player():
    """With SGD at lr 1 a player's update is its (clipped) gradient: the clipped player's update has the clip's
    norm, the unclipped one's does not."""
    sgd = {"class_path": "torch.optim.SGD", "init_args": {"lr": 1.0}}
    torch.manual_seed(0)
    model = ThreePlayerToy(optimizers={"discriminator": sgd, "generator": sgd},
                           gradient_clip_val={"discriminator": 1e-3})
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    quiet_trainer(max_steps=1).fit(model, batches(1))  # one batch: D alone
    update = torch.cat([(p.detach() - before[f"discriminator.{k}"]).flatten()
                        for k, p in model.discriminator.named_parameters()])
    torch.testing.assert_close(update.norm(), torch.tensor(1e-3), rtol=1e-4, atol=0)


def test_schedulers_per_player_step_once_per_epoch():
    step = {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.5}}
    model = ThreePlayerToy(lr_schedulers={"encoder": step})
    trainer = quiet_trainer(max_epochs=3)
    trainer.fit(model, batches(3))
    assert [opt.param_groups[0]["lr"] for opt in trainer.optimizers] == [0.05, 0.05, pytest.approx(0.05 / 8)]
    assert model.hparams["lr_schedulers"] == {"discriminator": None, "generator": None, "encoder": step}


def test_a_resumed_run_keeps_every_period(tmp_path):
    """5 batches per epoch: the resumed epoch (batches 6-10) updates G on 6, 8, 10 and E on 6, 9."""
    torch.manual_seed(0)
    model = ThreePlayerToy()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, batches(5))
    trainer.save_checkpoint(tmp_path / "one.ckpt")
    resumed, watch = ThreePlayerToy(), Watch()
    quiet_trainer(max_epochs=2, callbacks=[watch]).fit(resumed, batches(5), ckpt_path=tmp_path / "one.ckpt")
    assert watch.steps.count("generator") == 3 and watch.steps.count("encoder") == 2
    assert (int(resumed.batches), int(resumed.generator_steps), int(resumed.encoder_steps)) == (10, 5, 3)


def test_validation_scores_every_player_without_updating():
    torch.manual_seed(0)
    model = ThreePlayerToy()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trainer = quiet_trainer()
    trainer.validate(model, batches(2))
    assert {"val/d_loss", "val/g_loss", "val/e_loss", "val/reconstruction"} <= set(trainer.callback_metrics)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizers": {"critic": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}}},
         r"optimizers names unknown player\(s\) \['critic'\]; ThreePlayerToy's players are \['discriminator', "
         r"'generator', 'encoder'\]"),
        ({"lr_schedulers": {"gen": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1}}}},
         r"lr_schedulers names unknown player\(s\) \['gen'\]"),
        ({"gradient_clip_val": -1.0}, r"gradient_clip_val must be > 0 or None, got -1.0 for player 'discriminator'"),
        ({"ema_decay": 1.0}, r"ema_decay must be in \(0, 1\)"),
        ({"optimizers": {"encoder": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0}}}},
         r"optimizers.encoder lr must be a number > 0, got 0"),
    ],
)
def test_bad_engine_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ThreePlayerToy(**kwargs)


def test_a_period_below_one_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"the update period of player 'encoder' must be >= 1, got 0"):
        quiet_trainer(max_epochs=1).fit(ThreePlayerToy(encoder_period=0), batches(2))


def test_a_method_that_forgets_build_ema_is_told():
    class Forgetful(ThreePlayerToy):
        def build_ema(self) -> None:  # as if __init__ never called it
            pass

    with pytest.raises(RuntimeError, match=r"must call self.build_ema\(\) once its nets exist"):
        quiet_trainer(max_epochs=1).fit(Forgetful(), batches(2))
