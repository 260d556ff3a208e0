"""Files written by the previous release (commit be7827f) keep loading: shipped weights, safetensors and
Lightning checkpoints, from Python and from the CLI, and they reproduce the samples they gave then.

tests/fixtures/be7827f/ holds tiny files written by that commit (see its make.py). Samples are compared to
float32 rounding: another torch build's kernels round differently (measured: at most 1.2e-7 absolute, 1
float32 ulp, between the fixtures' torch 2.15 and torch 2.14.1); a wrong weight or a changed sampler moves
them by orders of magnitude more."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import LambdaCallback
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "be7827f"
SAMPLES = torch.load(FIXTURES / "samples.pt", weights_only=True)
ROUNDING = 1e-6  # float32 rounding of another torch build's kernels; see the docstring
FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".ckpt", ".safetensors"))


def samples(model) -> torch.Tensor:
    return model.sample(4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_old_files_load_and_give_the_same_samples(path):
    model = zoo.load(path)
    assert not model.training
    torch.testing.assert_close(samples(model), SAMPLES[path.stem], rtol=ROUNDING, atol=ROUNDING)


# the weights that release shipped (weights added since have no samples of then to compare with)
@pytest.mark.parametrize("name", sorted(json.loads((FIXTURES / "pretrained_samples.json").read_text())))
def test_shipped_weights_give_the_samples_they_gave_before(name):
    expected = json.loads((FIXTURES / "pretrained_samples.json").read_text())[name]
    x = samples(zoo.load(name)).double()
    first = torch.tensor(expected["first"], dtype=torch.float64)
    torch.testing.assert_close(x.flatten()[:8], first, rtol=ROUNDING, atol=ROUNDING)
    torch.testing.assert_close(x.sum().item(), expected["sum"], rtol=ROUNDING, atol=0)
    torch.testing.assert_close(x.pow(2).sum().item(), expected["sum_sq"], rtol=ROUNDING, atol=0)


@pytest.mark.parametrize("name", ["gan", "wgan_gp", "vae", "wgan_gp_cli"])
def test_an_old_checkpoint_resumes_training(name):
    """A run of the previous release continues under this one: weights, optimizer states and the update
    schedule (the GANs' step counts) are restored, and one more epoch trains."""
    path = FIXTURES / f"{name}.ckpt"
    old = torch.load(path, weights_only=True)
    model = type(zoo.load(path))(**{k: v for k, v in zoo.load(path).hparams.items() if not k.startswith("_")})
    data = TensorDataset(torch.rand(64, 1, 8, 8), torch.zeros(64, dtype=torch.long))
    seen = []
    count = LambdaCallback(on_train_batch_end=lambda *args: seen.append(1))
    trainer = quiet_trainer(max_epochs=old["epoch"] + 2, limit_val_batches=0, callbacks=[count])
    trainer.fit(model, DataLoader(data, batch_size=16), ckpt_path=path)
    assert trainer.current_epoch == old["epoch"] + 2
    assert trainer.global_step > old["global_step"]
    if "critic_steps" in old["state_dict"]:  # a GAN: the n_critic schedule continues where it was
        before, new_batches = int(old["state_dict"]["critic_steps"]), len(seen)
        assert int(model.batches) == int(model.discriminator_steps) == before + new_batches
        n_critic = model.n_critic
        assert int(model.generator_steps) == (before + new_batches) // n_critic
