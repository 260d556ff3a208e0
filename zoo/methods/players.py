"""The players engine: every method with several optimizers (GANs, VAE/GAN hybrids, translation, adversarial
domain adaptation) stands on ``MultiPlayerModel`` (Lightning manual optimization).

A method **declares its players** and **writes the objective of each**; the engine owns the loop.

- A ``Player`` is one optimizer and the nets it updates (attribute names; a net may sit in two players,
  several nets may share one player: BiGAN's encoder and generator). Its options are declared, not coded:
  an update period ``every`` (an int, or the name of a hyperparameter such as ``"n_critic"``), an EMA of
  its nets (``ema=True``, with the model's ``ema_decay``), weight clipping (``clip_weights`` names the
  hyperparameter holding c), and the metric name ``log_as``.
- ``objective(player, batch, cache) -> Terms`` returns what that player minimises (``"loss"``) and what to
  log beside it. ``cache`` carries tensors from one player's phase to the next of the same batch
  (CycleGAN's fakes reach its discriminators); the engine detaches them after each phase, so a later phase
  never backpropagates into an earlier one's graph.
- **The loop.** Per training batch, players update in the order of ``players``, each on the batches its
  period selects (the k-th batch of the run, counted from 1, updates a player of period p when p divides
  k; the count is a buffer, so a resumed run keeps its place). Each update runs under
  ``toggled_optimizer``: only that player's parameters require grad, so no loss reaches another player's
  gradients (the bug of coupled trainers that backpropagate every loss before stepping every optimizer).
  After the step: weight clipping, the EMA update, and the player's step count (a buffer,
  ``<player>_steps``). Lightning's ``global_step`` counts optimizer steps, so recipes are sized in epochs.
- **Gradient clipping** (``gradient_clip_val``: one max norm, or one per player) happens in
  ``on_before_optimizer_step``, after Lightning's 16-mixed plugin has unscaled the gradients.
- **LR schedulers**: one per player (a paper default in ``default_lr_schedulers`` or a recipe's), stepped
  once per epoch.
- **Logging**: ``train/<log_as>_loss`` every batch (progress bar); the other terms and ``train/<player>_steps``
  on the batches Lightning writes logs for (each ``self.log`` costs about a millisecond on CPU).
- **Validation and test** run every player's objective on the batch without updates and log
  ``<stage>/<log_as>_loss`` and its terms. Terms that need autograd (a gradient penalty) are skipped
  there: an objective can test ``torch.is_grad_enabled()``.
- **DDP**: a player's backward leaves the other players' nets out of the graph, so with more than one
  player the engine turns on ``find_unused_parameters`` (``find_unused_parameters`` overrides).

Deviations from the papers: none here; the engine implements no paper's method, and each method's file lists
its own deviations (alternating updates in place of a paper's simultaneous ones among them).

A method class sets ``players``, ``default_optimizers`` (player -> the paper's optimizer spec) and optionally
``default_lr_schedulers``; it builds its nets in ``__init__`` with ``make_net`` (the recipe's factory, else
the paper's) and calls ``build_ema()`` once they exist. Recipes override per player:
``optimizers: {generator: {class_path: torch.optim.Adam, init_args: {lr: 2e-4}}}``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from zoo.errors import ConfigError
from zoo.factories import Spec, check_optimizer_spec, from_spec, to_spec
from zoo.methods._lightning import expect_unused_parameters
from zoo.methods.base import Batch, Terms, ZooModule


@dataclasses.dataclass(frozen=True)
class Player:
    """One optimizer and the nets it updates, with its declared options (see the module docstring).

    Args:
        nets: attribute names of the nets this player's optimizer updates (parameters de-duplicated).
        every: update on every k-th batch: an int, or the name of an int attribute (``"n_critic"``).
        ema: keep an exponential moving average of these nets (when the model's ``ema_decay`` is set);
            ``sampling_net(name)`` returns it.
        clip_weights: name of the attribute holding c: clamp the nets' weights to [-c, c] after each step.
        log_as: metric prefix: ``train/<log_as>_loss`` (default: the player's name).
    """

    nets: tuple[str, ...]
    every: int | str = 1
    ema: bool = False
    clip_weights: str | None = None
    log_as: str | None = None


class MultiPlayerModel(ZooModule):
    """Base of the methods with several optimizers; see the module docstring.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        optimizers: ``{player: factory params -> Optimizer}``; a player left out gets its paper default.
        lr_schedulers: ``{player: factory optimizer -> LRScheduler}``, stepped once per epoch.
        ema_decay: decay of the EMA of the nets of players declared ``ema=True`` (e.g. 0.999), or None.
        gradient_clip_val: max gradient norm for every player, or ``{player: max norm}``, or None.
        channels_last, compile: speed switches (see ``ZooModule``).
    """

    #: the players, in update order
    players: ClassVar[dict[str, Player]]
    #: player -> the paper's optimizer spec
    default_optimizers: ClassVar[dict[str, Spec]]
    #: player -> the paper's LR schedule spec (CycleGAN's linear decay); players left out have none
    default_lr_schedulers: ClassVar[dict[str, Spec]] = {}
    #: net name -> the paper's factory spec, used by ``make_net`` when the recipe gives none
    default_nets: ClassVar[dict[str, Spec]] = {}
    #: DDP's find_unused_parameters; None: derived (True with more than one player)
    find_unused_parameters: ClassVar[bool | None] = None

    def __init__(
        self,
        *,
        in_shape: Sequence[int],
        optimizers: dict[str, OptimizerCallable] | None = None,
        lr_schedulers: dict[str, LRSchedulerCallable] | None = None,
        ema_decay: float | None = None,
        gradient_clip_val: float | dict[str, float] | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(in_shape=in_shape, default_optimizer=None, channels_last=channels_last, compile=compile)
        self.automatic_optimization = False  # the engine steps each player's optimizer itself
        names = tuple(self.players)
        for what, given in (("optimizers", optimizers), ("lr_schedulers", lr_schedulers)):
            self._check_players(what, given)
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) (e.g. 0.999) or None, got {ema_decay}")
        if isinstance(gradient_clip_val, Mapping):
            self._check_players("gradient_clip_val", gradient_clip_val)
            clips = dict(gradient_clip_val)
        else:
            clips = dict.fromkeys(names, gradient_clip_val)
        for name, clip in clips.items():
            if clip is not None and not clip > 0:
                raise ConfigError(f"gradient_clip_val must be > 0 or None, got {clip} for player {name!r}")
        self.ema_decay = ema_decay
        self.gradient_clip_val = gradient_clip_val
        self._clip = {name: clips.get(name) for name in names}
        optimizers, lr_schedulers = dict(optimizers or {}), dict(lr_schedulers or {})
        self.optimizer_specs: dict[str, Spec] = {
            name: to_spec(optimizers.get(name), f"optimizers.{name}") or dict(self.default_optimizers[name])
            for name in names
        }
        self.lr_scheduler_specs: dict[str, Spec | None] = {
            name: to_spec(lr_schedulers.get(name), f"lr_schedulers.{name}") or self.default_lr_schedulers.get(name)
            for name in names
        }
        for name, spec in self.optimizer_specs.items():  # fail now, not at the first training step
            check_optimizer_spec(f"optimizers.{name}", spec)
        # The schedule's count of training batches and each player's updates: buffers, so a resumed run
        # keeps its place in every period and the counts travel with the weights.
        self.register_buffer("batches", torch.zeros((), dtype=torch.long))
        for name in names:
            self.register_buffer(f"{name}_steps", torch.zeros((), dtype=torch.long))
        self._batches = 0  # host-side copy: reading the buffer would make the CPU wait for the GPU every batch
        self._updating: str | None = None  # the player whose optimizer steps next (for gradient clipping)
        self._ema_built = False

    def _check_players(self, what: str, given: Mapping[str, Any] | None) -> None:
        unknown = sorted(set(given or {}) - set(self.players))
        if unknown:
            raise ConfigError(f"{what} names unknown player(s) {unknown}; {type(self).__name__}'s players are "
                              f"{list(self.players)}")

    # -- building ---------------------------------------------------------------------------------------
    def make_net(self, name: str, factory: Callable[..., nn.Module] | Spec | None) -> Callable[..., nn.Module]:
        """The factory of net ``name``: the recipe's (``factory``), else the paper's (``default_nets[name]``)."""
        if factory is None and name not in self.default_nets:
            raise ConfigError(f"{type(self).__name__} needs a factory for its {name!r} net")
        return from_spec(to_spec(factory, name), self.default_nets.get(name, {}))

    def build_ema(self) -> None:
        """Create the EMA copies of the nets of ``ema=True`` players (when ``ema_decay`` is set), as
        ``<net>_ema`` attributes; call once the nets exist. Every weight and buffer is averaged, batch-norm
        statistics included."""
        if self.ema_decay is not None:
            for player in self.players.values():
                for net in player.nets if player.ema else ():
                    ema = AveragedModel(getattr(self, net), multi_avg_fn=get_ema_multi_avg_fn(self.ema_decay),
                                        use_buffers=True)
                    setattr(self, f"{net}_ema", ema.requires_grad_(False))
        self._ema_built = True

    def sampling_net(self, name: str) -> nn.Module:
        """Net ``name`` as sampling should use it: its EMA when there is one."""
        ema = getattr(self, f"{name}_ema", None)
        return getattr(self, name) if ema is None else ema.module

    # -- the objective: what a method defines ------------------------------------------------------------
    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        """What ``player`` minimises on ``batch`` (``"loss"``) and the terms to log beside it."""
        raise NotImplementedError(f"{type(self).__name__} defines no objective")

    def period(self, player: str) -> int:
        """The player's update period in batches (``Player.every``, resolved)."""
        every = self.players[player].every
        return int(getattr(self, every)) if isinstance(every, str) else every

    # -- the loop ----------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        self._batches += 1
        self.batches += 1
        cache: dict[str, torch.Tensor] = {}
        for (name, player), optimizer in zip(self.players.items(), self._optimizer_list()):
            if self._batches % self.period(name):
                continue
            with self.toggled_optimizer(optimizer):  # only this player's parameters require grad
                terms = self.objective(name, batch, cache)
                self.check_finite(terms["loss"], f"train/{player.log_as or name}_loss")
                optimizer.zero_grad(set_to_none=True)
                self.manual_backward(terms["loss"])
                self._updating = name
                optimizer.step()  # on_before_optimizer_step clips this player's gradients
            self._after_update(name, player)
            for key, value in cache.items():  # later phases never backpropagate into this one
                cache[key] = value.detach()
            self.log_terms("train", terms, loss_name=f"{player.log_as or name}_loss")
        if self.writes_logs_now():
            self.log_dict({f"train/{name}_steps": getattr(self, f"{name}_steps").float() for name in self.players})

    @torch.no_grad()
    def _after_update(self, name: str, player: Player) -> None:
        if player.clip_weights is not None:
            c = float(getattr(self, player.clip_weights))
            for net in player.nets:
                for p in getattr(self, net).parameters():
                    p.clamp_(-c, c)
        for net in player.nets if player.ema else ():
            ema = getattr(self, f"{net}_ema", None)
            if ema is not None:
                ema.update_parameters(getattr(self, net))
        getattr(self, f"{name}_steps").add_(1)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("test", batch)

    def _evaluate(self, stage: str, batch: Batch) -> None:
        """Every player's objective on held-out data, no update (Lightning runs this without gradients)."""
        cache: dict[str, torch.Tensor] = {}
        for name, player in self.players.items():
            self.log_terms(stage, self.objective(name, batch, cache), loss_name=f"{player.log_as or name}_loss")

    # -- Lightning hooks ---------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        super().on_train_start()
        self._batches = int(self.batches)  # after a checkpoint restore, once per fit
        for name in self.players:
            if self.period(name) < 1:
                raise ConfigError(f"the update period of player {name!r} must be >= 1, got {self.period(name)}")
        if not self._ema_built:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call self.build_ema() once its nets exist")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after the backward and after unscaling (16-mixed), before the step
        clip = self._clip.get(self._updating) if self._updating is not None else None
        if clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    def setup(self, stage: str) -> None:
        super().setup(stage)
        unused = self.find_unused_parameters
        if unused if unused is not None else len(self.players) > 1:
            expect_unused_parameters(self.trainer, f"{type(self).__name__}: each player's update leaves the "
                                                   "other players' nets out of the graph")

    def loss_scale(self) -> float | None:
        """The trainer's current grad-scaler scale under 16-mixed, else None (for a gradient penalty's
        ``autograd.grad``, which the scaler does not see)."""
        trainer = self._trainer
        scaler = getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else None

    # -- optimizers ----------------------------------------------------------------------------------
    def base_hparams(self) -> dict[str, Any]:
        return {"optimizers": dict(self.optimizer_specs), "lr_schedulers": dict(self.lr_scheduler_specs),
                "ema_decay": self.ema_decay, "gradient_clip_val": self.gradient_clip_val,
                "channels_last": self.use_channels_last, "compile": self.use_compile}

    def player_parameters(self, name: str) -> list[nn.Parameter]:
        """The parameters of a player's nets, each once, in declaration order."""
        seen: dict[int, nn.Parameter] = {}
        for net in self.players[name].nets:
            for p in getattr(self, net).parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    def configure_optimizers(self) -> Any:
        optimizers, schedulers = [], []
        for name in self.players:
            optimizer = from_spec(self.optimizer_specs[name], {})(self.player_parameters(name))
            optimizers.append(optimizer)
            if self.lr_scheduler_specs[name] is not None:
                scheduler = from_spec(self.lr_scheduler_specs[name], {})(optimizer)
                schedulers.append({"scheduler": scheduler, "interval": "epoch"})
        return optimizers, schedulers

    def _optimizer_list(self) -> list[Any]:
        optimizers = self.optimizers()
        return optimizers if isinstance(optimizers, list) else [optimizers]
