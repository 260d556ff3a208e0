"""The adversarial engine: schedule, EMA, clipping under mixed precision, checkpoints, bad input.

Run on the smallest nets that exercise each path (8x8 images, DCGAN nets), a few steps each."""
import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer
from zoo.errors import ConfigError
from zoo.images import to_unit

SHAPE = (1, 8, 8)
SGD = {"class_path": "torch.optim.SGD", "init_args": {"lr": 1.0}}


def batches(n_batches: int, batch_size: int = 16) -> DataLoader:
    return DataLoader(TensorDataset(torch.rand(n_batches * batch_size, *SHAPE)), batch_size=batch_size)


class CountSteps(L.Callback):
    """Counts optimizer steps per player (Lightning calls this hook once per ``optimizer.step()``; the
    engine's optimizers are its players', in declaration order)."""

    def __init__(self) -> None:
        self.critic = self.generator = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        player = list(pl_module.players)[trainer.optimizers.index(optimizer)]
        if player == "discriminator":
            self.critic += 1
        else:
            assert player == "generator"
            self.generator += 1


@pytest.mark.parametrize("name", ["gan", "wgan", "wgan_gp"])
def test_n_critic_schedule_counts_the_optimizer_steps(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE, n_critic=5)
    counter = CountSteps()
    trainer = quiet_trainer(max_epochs=1, callbacks=[counter], log_every_n_steps=5)
    trainer.fit(model, batches(10))
    assert (counter.critic, counter.generator) == (10, 2)
    assert (int(model.discriminator_steps), int(model.generator_steps), int(model.batches)) == (10, 2, 10)
    assert trainer.global_step == 12  # Lightning counts optimizer steps, not batches
    assert trainer.callback_metrics["train/generator_steps"] == 2  # diagnostics logged on batches 5 and 10


@pytest.mark.parametrize("progress_bar", [True, False])
def test_diagnostics_are_logged_only_on_logging_batches(progress_bar):
    """Lightning writes step metrics every log_every_n_steps batches; the engine logs its diagnostics then only
    (each self.log costs ~1.7 ms), and the losses every batch while a progress bar shows them."""
    seen = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            metrics = trainer.callback_metrics
            seen.append(("train/D(x)" in metrics, float(metrics["train/d_loss"]) if "train/d_loss" in metrics else None))

    torch.manual_seed(0)
    quiet_trainer(max_epochs=1, log_every_n_steps=3, callbacks=[Record()], enable_progress_bar=progress_bar).fit(
        zoo.create_model("gan", in_shape=SHAPE), batches(4)
    )
    assert [logged for logged, _ in seen] == [False, False, True, True]  # first written after batch 3
    losses = [loss for _, loss in seen]
    if progress_bar:
        assert len(set(losses)) == 4  # the loss is fresh every batch
    else:
        assert losses[:2] == [None, None] and losses[2] is not None  # logged with the writes only


def test_schedule_continues_across_epochs_and_a_resume(tmp_path):
    """7 batches per epoch and n_critic = 3: G steps after critic steps 3, 6, 9, 12 whatever the epochs."""
    torch.manual_seed(0)
    model = zoo.create_model("gan", in_shape=SHAPE, n_critic=3)
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path)
    trainer.fit(model, batches(7))
    assert (int(model.discriminator_steps), int(model.generator_steps)) == (7, 2)
    ckpt = tmp_path / "epoch1.ckpt"
    trainer.save_checkpoint(ckpt)

    resumed = zoo.create_model("gan", in_shape=SHAPE, n_critic=3)
    counter = CountSteps()
    quiet_trainer(max_epochs=2, callbacks=[counter]).fit(resumed, batches(7), ckpt_path=ckpt)
    assert (counter.critic, counter.generator) == (7, 2)  # critic steps 8..14: G after 9 and 12
    assert (int(resumed.discriminator_steps), int(resumed.generator_steps)) == (14, 4)


def test_ema_is_what_sample_uses_and_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("dcgan", in_shape=SHAPE, latent_dim=8, ema_decay=0.5)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, batches(4))
    model.eval()
    ema = dict(model.generator_ema.module.named_parameters())
    differs = [k for k, p in model.generator.named_parameters() if not torch.allclose(p, ema[k])]
    assert differs, "EMA weights equal the raw weights after 4 updates with decay 0.5"

    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        via_ema = to_unit(torch.tanh(model.generator_ema.module(z)))
        via_raw = to_unit(torch.tanh(model.generator(z)))
    torch.testing.assert_close(model.decode(z), via_ema)
    assert not torch.allclose(via_ema, via_raw)
    samples = model.sample(6, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(samples, via_ema)  # sample draws z ~ N(0, I) from the generator, then decodes

    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = zoo.load(tmp_path / "m.ckpt")
    assert not loaded.training
    torch.testing.assert_close(loaded.sample(6, generator=torch.Generator().manual_seed(3)), samples)


def test_clipping_acts_on_unscaled_gradients_under_a_grad_scaler():
    """16-mixed with a GradScaler (on CPU here; CUDA's 16-mixed builds the same plugin): with SGD at lr 1 the
    critic's first update *is* its clipped gradient, so its norm must equal the clip value. Clipping the
    still-scaled gradients would give clip / 1024 instead."""
    torch.manual_seed(0)
    clip = 1e-3
    model = zoo.create_model("wgan_gp", in_shape=SHAPE, gradient_clip_val=clip, optimizers={"discriminator": SGD})
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scales = []

    class RecordScale(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            scales.append(pl_module.loss_scale())

    trainer = quiet_trainer(
        max_steps=1,
        log_every_n_steps=1,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        callbacks=[RecordScale()],
    )
    trainer.fit(model, batches(1))
    update = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.discriminator.parameters(), before)])
    torch.testing.assert_close(update.norm(), torch.tensor(clip), rtol=1e-3, atol=0)
    assert scales == [1024.0]  # the gradient penalty was scaled by the trainer's scaler
    assert torch.isfinite(trainer.callback_metrics["train/gradient_penalty"])


def test_gradient_penalty_is_the_same_with_and_without_a_loss_scale():
    torch.manual_seed(0)
    model = zoo.create_model("wgan_gp", in_shape=SHAPE)
    real, fake = torch.rand(4, *SHAPE) * 2 - 1, torch.rand(4, *SHAPE) * 2 - 1
    torch.manual_seed(1)
    plain = model.discriminator_penalty(real, fake)
    model.loss_scale = lambda: 4096.0
    torch.manual_seed(1)
    scaled = model.discriminator_penalty(real, fake)
    torch.testing.assert_close(scaled["gradient_penalty"], plain["gradient_penalty"])
    torch.testing.assert_close(scaled["loss"], 10 * plain["gradient_penalty"])


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("gan", {"n_critic": 0}, r"n_critic must be >= 1, got 0"),
        ("wgan", {"optimizers": {"generator": {"class_path": "torch.optim.RMSprop", "init_args": {"lr": -1e-4}}}},
         r"optimizers.generator lr must be a number > 0, got -0.0001"),
        ("wgan", {"optimizers": {"critic": {"class_path": "torch.optim.RMSprop", "init_args": {"lr": 1e-4}}}},
         r"optimizers names unknown player\(s\) \['critic'\]; WGAN's players are \['discriminator', 'generator'\]"),
        ("gan", {"gradient_clip_val": {"generator": 0.0}},
         r"gradient_clip_val must be > 0 or None, got 0.0 for player 'generator'"),
        ("gan", {"generator_loss": "hinge"}, r"unknown generator_loss 'hinge'; choose one of \('non_saturating', 'minimax'\)"),
        ("gan", {"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
        ("dcgan", {"ema_decay": 1.5}, r"ema_decay must be in \(0, 1\)"),
        ("wgan", {"clip_value": 0.0}, r"clip_value must be > 0"),
        ("wgan_gp", {"penalty_weight": -1.0}, r"penalty_weight must be >= 0"),
        ("dcgan", {"in_shape": (1, 7, 7)}, r"DCGAN nets need an even image side > 4"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        zoo.create_model(name, **{"in_shape": SHAPE, **kwargs})


def test_one_sided_label_smoothing_reaches_the_discriminator_loss():
    model = zoo.create_model("gan", in_shape=SHAPE, label_smoothing=0.1)
    # real score 2 with target 0.9 and fake score -1 (see tests/test_losses.py)
    torch.testing.assert_close(model.discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0])), torch.tensor([0.640190]))


def test_wgan_clips_the_critic_weights_after_each_step():
    torch.manual_seed(0)
    model = zoo.create_model("wgan", in_shape=SHAPE, optimizers={"discriminator": SGD})
    quiet_trainer(max_steps=2).fit(model, batches(2))
    weights = torch.cat([p.detach().flatten() for p in model.discriminator.parameters()])
    assert weights.abs().max() == pytest.approx(0.01)  # SGD at lr 1 pushes many weights far past c = 0.01


def test_lr_schedulers_are_stepped_once_per_epoch():
    step_lr = {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.5}}
    model = zoo.create_model("gan", in_shape=SHAPE, lr_schedulers={"generator": step_lr, "discriminator": step_lr})
    trainer = quiet_trainer(max_epochs=3)
    trainer.fit(model, batches(2))
    assert [opt.param_groups[0]["lr"] for opt in trainer.optimizers] == [pytest.approx(2e-4 / 8)] * 2
