"""Models a CLI test trains by class path (they are not registered): a conditional one that needs the data's
number of classes, and a non-generative one that reads two-domain batches; and a callback that kills its run."""
import os
import signal

import lightning as L
import torch

from zoo.methods import ZooModule


class CountsClasses(ZooModule):
    """Fits one logit per class to the label frequencies: needs ``num_classes`` (linked from the data) and labels."""

    def __init__(self, *, in_shape=(1, 8, 8), num_classes: int) -> None:
        super().__init__(in_shape=in_shape)
        self.num_classes = num_classes
        self.logits = torch.nn.Parameter(torch.zeros(num_classes))
        self.save_plain_hyperparameters()

    def objective(self, batch):
        self.images(batch)
        return {"loss": torch.nn.functional.cross_entropy(self.logits.expand(len(batch[1]), -1), self.labels(batch))}


class DomainGap(ZooModule):
    """A non-generative two-domain model: learns the mean brightness gap between domain A and domain B."""

    def __init__(self, *, in_shape=(1, 8, 8)) -> None:
        super().__init__(in_shape=in_shape)
        self.gap = torch.nn.Parameter(torch.zeros(()))
        self.save_plain_hyperparameters()

    def objective(self, batch):
        x_a, x_b = self.domains(batch)
        return {"loss": (x_a.mean() - x_b.mean() - self.gap) ** 2}


class KillAt(L.Callback):
    """Kills its own process with SIGKILL (no clean-up, as `kill -9` or a lost machine) after the training
    step ``$ZOO_TEST_KILL_AT``; does nothing when the variable is unset (the resumed run)."""

    def __init__(self) -> None:
        self.step = int(os.environ.get("ZOO_TEST_KILL_AT", "-1"))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
