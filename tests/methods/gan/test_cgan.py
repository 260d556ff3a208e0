"""Conditional GAN: the label reaches both players, the nets compute what the papers write (concatenation,
projection), ``sample(n, y=...)`` keeps its contract, bad input is one clear line, and it learns to draw the
digit it is asked for.

Learning test: the default cGAN (labels concatenated, Adam 2e-4 (0.5, 0.999)) with DCGAN nets of width 32
trained 40 epochs on the bundled digits (minibatch 64, ~800 batches, one thread); the digits domain classifier
(``digits_cls``, 98.3% mean per-class accuracy on the real test digits) labels 100 samples of each class.
Measured conditional accuracy (mean over classes): seed 0: 0.914, seed 1: 0.887, seed 2: 0.967, each in 19-20 s
of CPU time (57-64 s of wall time on 2 cores shared with other jobs); untrained: 0.10 (chance). The threshold
0.7 sits 0.19 below the lowest seed. (Width 64, 20 epochs: 0.925, 0.899, 0.961, at about twice the cost.)"""
from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer
from zoo.capabilities import CONDITIONAL, SAMPLE, tasks_of
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError, InputError
from zoo.images import to_signed
from zoo.losses import discriminator_loss, generator_non_saturating_loss
from zoo.methods import ConditionalGAN
from zoo.nets import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator
from zoo.nets.dcgan import DCGANDiscriminator

SHAPE = (1, 8, 8)
TINY = {  # small nets: the contract tests take milliseconds
    "generator": {"class_path": "zoo.nets.ConditionalDCGANGenerator", "init_args": {"width": 8}},
    "discriminator": {"class_path": "zoo.nets.ConditionalDCGANDiscriminator", "init_args": {"width": 8}},
}


def tiny(**kwargs) -> ConditionalGAN:
    torch.manual_seed(0)
    return zoo.create_model("cgan", in_shape=SHAPE, **{**TINY, **kwargs})


def labelled(n: int = 16, num_classes: int = 10) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(n, *SHAPE, generator=g), torch.randint(num_classes, (n,), generator=g))


# -- declaration and nets ----------------------------------------------------------------------------------
def test_declares_sample_and_conditional_and_lands_in_the_conditional_table():
    assert ConditionalGAN.capabilities == {SAMPLE, CONDITIONAL}
    assert tasks_of(ConditionalGAN) == ("conditional_generation",)
    assert ConditionalGAN.paper.arxiv == "1411.1784"


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_nets_map_shapes_for_each_size(shape, conditioning):
    z, y = torch.randn(5, 16), torch.tensor([0, 1, 2, 3, 4])
    g = ConditionalDCGANGenerator(16, shape, 5, width=8)
    d = ConditionalDCGANDiscriminator(shape, 1, 5, conditioning, width=8)
    x = g(z, y)
    assert x.shape == (5, *shape)
    assert d(x, y).shape == (5, 1)


def test_generator_reads_z_concatenated_with_the_label_embedding():
    torch.manual_seed(0)
    g = ConditionalDCGANGenerator(4, SHAPE, 3, embedding_dim=2, width=8).eval()
    z, y = torch.randn(3, 4), torch.tensor([2, 0, 1])
    torch.testing.assert_close(g(z, y), g.net(torch.cat([z, g.embed.weight[y]], 1)))
    assert not torch.allclose(g(z, y), g(z, torch.tensor([0, 1, 2])))  # the label changes the image


def test_concat_discriminator_reads_the_label_as_constant_input_channels():
    torch.manual_seed(0)
    d = ConditionalDCGANDiscriminator(SHAPE, 1, 3, "concat", embedding_dim=2, width=8).eval()
    x, y = torch.rand(4, *SHAPE) * 2 - 1, torch.tensor([0, 1, 2, 1])
    channels = d.embed.weight[y][:, :, None, None] * torch.ones(4, 2, 8, 8)  # e(y) broadcast over (H, W)
    expected = d.head(d.features(torch.cat([x, channels], 1))).flatten(1)
    torch.testing.assert_close(d(x, y), expected)
    assert d.features[0].in_channels == 1 + 2


def test_projection_discriminator_adds_the_inner_product_of_the_class_vector_and_the_features():
    """Miyato & Koyama, Eq. 3: D(x, y) = psi(phi(x)) + y^T V phi(x), with psi the unconditional score."""
    torch.manual_seed(0)
    d = ConditionalDCGANDiscriminator(SHAPE, 1, 3, "projection", width=8).eval()
    with torch.no_grad():
        d.embed.weight.normal_()  # V away from its small initialisation, so the term is not negligible
    x, y = torch.rand(4, *SHAPE) * 2 - 1, torch.tensor([0, 1, 2, 1])
    phi = d.features(x).flatten(1)  # (4, C' h' w')
    psi = d.head(d.features(x)).flatten(1)  # (4, 1)
    expected = psi + (d.embed.weight[y] * phi).sum(1, keepdim=True)
    torch.testing.assert_close(d(x, y), expected)
    # the same DCGAN body as the unconditional discriminator: only the conditioning differs
    plain = DCGANDiscriminator(SHAPE, 1, width=8)
    assert [p.shape for p in plain.parameters()] == [p.shape for n, p in d.named_parameters() if n != "embed.weight"]
    assert d.embed.weight.shape == (3, 8 * 4 * 4)  # one V per class, the size of the last map (w, 4, 4)


# -- the objective -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_both_players_are_scored_on_the_batch_labels(conditioning):
    """D's loss is GAN's BCE on D(x | y) and D(G(z | y) | y), G's the non-saturating loss: the same noise and
    the batch's labels give the same numbers by hand; other labels give other numbers."""
    model = tiny(discriminator_conditioning=conditioning).eval()  # eval: batch norm is deterministic
    x, y = labelled(8)[:]
    torch.manual_seed(3)
    d_terms = model.objective("discriminator", (x, y), cache := {})
    torch.manual_seed(3)
    fake = model(torch.randn(8, 100), y)
    expected = discriminator_loss(model.scores(to_signed(x), y), model.scores(fake, y)).mean()
    torch.testing.assert_close(d_terms["loss"], expected)
    torch.testing.assert_close(cache["fake"], fake)
    g_terms = model.objective("generator", (x, y), cache)  # eval: G is scored on the fakes D just saw
    torch.testing.assert_close(g_terms["loss"], generator_non_saturating_loss(model.scores(fake, y)).mean())
    torch.manual_seed(3)
    other = model.objective("discriminator", (x, (y + 1) % 10), {})
    assert not torch.allclose(other["loss"], d_terms["loss"])


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_training_updates_the_label_embeddings_of_both_nets(conditioning):
    model = tiny(discriminator_conditioning=conditioning)
    before = {k: v.clone() for k, v in model.state_dict().items() if "embed" in k}
    assert set(before) == {"generator.embed.weight", "discriminator.embed.weight"}
    quiet_trainer(max_steps=4).fit(model, DataLoader(labelled(32), batch_size=8))
    for key, value in before.items():
        assert not torch.equal(model.state_dict()[key], value), f"{key} did not train"


# -- sampling ----------------------------------------------------------------------------------------------
def test_sample_draws_the_requested_classes_from_the_noise_of_the_generator():
    model = tiny().eval()
    y = torch.tensor([3, 1, 4, 1, 5])
    z = torch.randn(5, 100, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(model.sample(5, y=y, generator=torch.Generator().manual_seed(7)), model.decode(z, y))
    # one int means that class for all
    torch.testing.assert_close(model.sample(5, y=4, generator=torch.Generator().manual_seed(7)),
                               model.decode(z, torch.full((5,), 4)))
    images = model.sample(5, y=[3, 1, 4, 1, 5], generator=torch.Generator().manual_seed(7))  # a list of ints too
    torch.testing.assert_close(images, model.decode(z, y))
    assert images.shape == (5, *SHAPE) and images.min() >= 0 and images.max() <= 1


def test_sample_without_labels_draws_classes_uniformly_with_the_generator():
    model = tiny().eval()
    g = torch.Generator().manual_seed(7)
    z = torch.randn(2000, 100, generator=g)
    y = torch.randint(10, (2000,), generator=g)  # drawn after z
    torch.testing.assert_close(model.sample(2000, generator=torch.Generator().manual_seed(7)), model.decode(z, y))
    counts = torch.bincount(y, minlength=10).float()
    torch.testing.assert_close(counts / 2000, torch.full((10,), 0.1), rtol=0, atol=0.03)


def test_class_grid_has_one_row_per_class_sharing_each_column_noise():
    model = tiny().eval()
    grid = model.class_grid(3, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (30, *SHAPE)
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(0))
    for k in (0, 7):
        torch.testing.assert_close(grid[3 * k:3 * k + 3], model.decode(z, torch.full((3,), k)))


# -- bad input: one line naming the value and the fix --------------------------------------------------------
@pytest.mark.parametrize("y, message", [
    (10, r"^ConditionalGAN.sample: label 10 is outside \[0, num_classes=10\); pass classes 0\.\.9$"),
    (torch.tensor([0, -1, 2]), r"^ConditionalGAN.sample: label -1 is outside \[0, num_classes=10\)"),
    (torch.tensor([0, 1]), r"^ConditionalGAN.sample: y has 2 labels for 3 images; pass one label per image"),
    (torch.zeros(3, 1, dtype=torch.long), r"^ConditionalGAN.sample: y has shape \(3, 1\) for 3 images"),
    (torch.tensor([0.0, 1.0, 2.0]), r"^ConditionalGAN.sample: y must be class indices \(an int or a LongTensor\), "
                                    r"got torch.float32"),
    (True, r"^ConditionalGAN.sample: y must be class indices"),
])
def test_bad_labels_for_sample_are_one_line_naming_the_value(y, message):
    with pytest.raises(InputError, match=message) as info:
        tiny().sample(3, y=y)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("num_classes", [1, 0])
def test_fewer_than_two_classes_is_refused(num_classes):
    with pytest.raises(ConfigError, match=rf"^num_classes must be an int >= 2 .*got {num_classes}; it is the data's"):
        zoo.create_model("cgan", in_shape=SHAPE, num_classes=num_classes)


def test_unknown_conditioning_is_refused():
    with pytest.raises(ConfigError, match=r"unknown discriminator_conditioning 'both'; choose one of \('concat', "):
        zoo.create_model("cgan", in_shape=SHAPE, discriminator_conditioning="both")


def test_unlabelled_batches_are_refused():
    data = DataLoader(TensorDataset(torch.rand(8, *SHAPE)), batch_size=4)  # images only, no labels
    with pytest.raises(ConfigError, match=r"ConditionalGAN needs labelled batches \(x, y\), but the data yields"):
        quiet_trainer(max_steps=1).fit(tiny(), data)


def test_labels_beyond_num_classes_in_the_data_are_refused():
    data = DataLoader(labelled(8, num_classes=10), batch_size=8)
    with pytest.raises(ConfigError, match=r"label [3-9] is outside \[0, num_classes=3\); set num_classes"):
        quiet_trainer(max_steps=1).fit(tiny(num_classes=3), data)


# -- the CLI links the data's classes ------------------------------------------------------------------------
def _image_folder(root: Path, classes: list[str]) -> Path:
    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for j in range(4):
            Image.new("L", (8, 8), color=20 * i + j).save(root / name / f"{j}.png")
    return root


def test_the_cli_gives_the_model_the_data_s_number_of_classes(tmp_path, monkeypatch):
    from lightning.pytorch import LightningDataModule

    from zoo.lightning_cli import ZooCLI
    from zoo.methods import ZooModule

    monkeypatch.chdir(tmp_path)
    root = _image_folder(tmp_path / "images", ["a", "b", "c"])
    cli = ZooCLI(ZooModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True, run=False,
                 args=["--model", "zoo.methods.ConditionalGAN", "--data", "zoo.data.ImageFolderDataModule",
                       f"--data.init_args.root={root}", "--data.init_args.size=8", "--data.init_args.channels=1",
                       "--trainer.logger=false"],
                 auto_configure_optimizers=False, save_config_callback=None)
    assert cli.model.num_classes == 3 and cli.model.hparams["num_classes"] == 3
    assert cli.model.discriminator.embed.num_embeddings == 3


def test_zoo_fit_on_a_folder_of_one_class_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    root = _image_folder(tmp_path / "faces", ["only"])
    args = ["fit", "--model", "zoo.methods.ConditionalGAN", "--data", "zoo.data.ImageFolderDataModule",
            f"--data.init_args.root={root}", "--data.init_args.size=8", "--data.init_args.channels=1",
            "--trainer.logger=false", "--trainer.max_steps=1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("zoo: error: ") and "num_classes must be an int >= 2" in err[-1]
    assert "got 1" in err[-1] and "Traceback" not in "\n".join(err)


# -- learning ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_classifier():
    from zoo.metrics.extractors import get_extractor

    dm = DigitsDataModule(batch_size=360)
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    return get_extractor("digits_cls"), x, y


def conditional_accuracy(model: ConditionalGAN, classifier) -> dict[str, float]:
    from zoo.metrics.conditional import measure_conditional_accuracy

    extractor, x, y = classifier
    return measure_conditional_accuracy(model.eval(), extractor, x, y, n_per_class=100, seed=0)


def test_untrained_cgan_is_at_chance(digits_classifier):
    torch.manual_seed(0)
    accuracy = conditional_accuracy(zoo.create_model("cgan", in_shape=SHAPE), digits_classifier)
    assert accuracy["conditional_accuracy"] < 0.3  # the learning test's threshold is not met by chance
    torch.testing.assert_close(accuracy["conditional_accuracy_real"], 0.983, rtol=0, atol=0.01)


LEARNING_NETS = {
    "generator": {"class_path": "zoo.nets.ConditionalDCGANGenerator", "init_args": {"width": 32}},
    "discriminator": {"class_path": "zoo.nets.ConditionalDCGANDiscriminator", "init_args": {"width": 32}},
}


# seed 1 runs with -m slow: each seed is ~20 s of CPU time of the default suite's budget
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_cgan_draws_the_requested_digit(digits_classifier, seed):
    L.seed_everything(seed, verbose=False)
    model = zoo.create_model("cgan", in_shape=SHAPE, **LEARNING_NETS)
    # nets this small gain nothing from a second thread but synchronisation (tests/methods/gan/conftest.py)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        quiet_trainer(max_epochs=40, limit_val_batches=0).fit(model, DigitsDataModule(batch_size=64, seed=seed))
    finally:
        torch.set_num_threads(threads)
    accuracy = conditional_accuracy(model, digits_classifier)
    per_class = [round(accuracy[f"conditional_accuracy_class_{k}"], 2) for k in range(10)]
    assert accuracy["conditional_accuracy"] > 0.7, f"accuracy {accuracy['conditional_accuracy']:.3f} {per_class}"
