"""The model registry: names, fnmatch filters, duplicates refused, unknown names with suggestions, and each
method's metadata (paper, family, capabilities, recipe, deviations), which lives with its class."""
import importlib
import sys
from pathlib import Path

import pytest
import torch
import yaml

import zoo
import zoo.registry
from zoo.errors import ConfigError, UnknownModelError
from zoo.methods import WGANGP, Autoencoder
from zoo.registry import Paper, create_model, list_models, model_info, name_of_class, register_model

FAMILIES = ("ae", "dae", "vae")


def test_list_models_has_every_family_and_its_conv_variant():
    names = list_models()
    for family in FAMILIES:
        assert family in names
        assert f"{family}_conv" in names
    assert names == sorted(names)
    assert zoo.list_models() == names


def test_list_models_filters_with_fnmatch():
    assert list_models("vae*") == ["vae", "vae_conv", "vae_gan"]
    assert list_models("*_conv") == ["ae_conv", "dae_conv", "vae_conv"]
    # a list means any of the patterns; the result stays sorted and has no duplicates
    assert list_models(["vae", "ae*", "ae"]) == ["ae", "ae_conv", "vae"]
    assert list_models("no_such_*") == []


def test_duplicate_name_is_refused_naming_the_first_registrant(monkeypatch):
    monkeypatch.setattr(zoo.registry, "_entry_points", dict(zoo.registry._entry_points))

    def throwaway_model(**kwargs):
        return create_model("vae", **kwargs)

    first = throwaway_model
    register_model(first)
    assert "throwaway_model" in list_models()

    def throwaway_model(**kwargs):  # noqa: F811  the same name from another function
        return create_model("ae", **kwargs)

    with pytest.raises(ConfigError) as info:
        register_model(throwaway_model)
    message = str(info.value)
    assert "'throwaway_model'" in message
    assert first.__qualname__ in message and __name__ in message
    assert zoo.registry._entry_points["throwaway_model"] is first  # the first one is kept


def test_registry_is_restored_after_monkeypatch():
    # runs after the test above: its throwaway registration must not leak
    assert "throwaway_model" not in list_models()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError) as info:
        create_model("vea")
    assert isinstance(info.value, KeyError)
    assert "'vea'" in str(info.value)
    assert "did you mean 'vae'" in str(info.value)
    assert not zoo.registry.is_model("vea") and zoo.registry.is_model("vae")


def test_unknown_name_without_a_close_one_still_points_to_zoo_list():
    with pytest.raises(KeyError, match="zoo list") as info:
        create_model("qqqqqqqqqq")
    assert "did you mean" not in str(info.value)


def test_create_model_passes_keyword_hyperparameters():
    model = create_model("vae", in_shape=(1, 28, 28), latent_dim=16)
    assert model.latent_dim == 16
    assert model.in_shape == (1, 28, 28)
    x = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 1, 28, 28)
    assert x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert not torch.isnan(x).any()


def test_create_model_conv_variant_uses_conv_nets():
    model = create_model("vae_conv", in_shape=(1, 8, 8), latent_dim=4)
    assert type(model.encoder).__name__ == "ConvEncoder"
    assert model.sample(3).shape == (3, 1, 8, 8)


def test_create_model_refuses_bad_hyperparameters():
    with pytest.raises(ConfigError) as info:
        create_model("vae", in_shape=(1, 28, 28), latent_dim=0)
    assert "latent_dim" in str(info.value) and "0" in str(info.value)


# -- metadata: one place per method ----------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list_models())
def test_every_method_declares_its_paper_family_deviations_and_recipe(name):
    """What the README's methods table, the leaderboard and the benchmarks read about a method lives with its
    class: a method missing any of it fails here, not in a table that silently drops it."""
    info = model_info(name)
    assert isinstance(info.paper, Paper) and info.paper.title and info.paper.authors and info.paper.year > 1900
    assert info.family in ("autoencoders", "vae", "gan", "hybrid", "translation", "autoregressive", "downstream")
    assert info.cls.__module__ == f"zoo.methods.{info.family}." + info.cls.__module__.rsplit(".", 1)[1]
    module_doc = sys.modules[info.cls.__module__].__doc__ or ""
    assert "Deviations from the paper" in module_doc, f"{info.cls.__module__} lists no deviations from its paper"
    assert info.capabilities, f"{name} declares no capabilities"
    recipe = ROOT / info.recipe
    assert recipe.is_file(), f"{name}'s default recipe {info.recipe} is missing"
    class_path = yaml.safe_load(recipe.read_text())["model"]["class_path"]
    module, _, attribute = class_path.rpartition(".")
    assert getattr(importlib.import_module(module), attribute) is info.cls, f"{info.recipe} trains {class_path}"
    from zoo.metrics import MODEL_METRICS  # the leaderboard measures each of the method's own scores

    assert set(info.extra_metrics) <= set(MODEL_METRICS), f"{name} declares scores no evaluator measures"


def test_the_name_index_zoo_list_reads_is_the_registry():
    # `zoo list` reads zoo/models.json so that it need not import torch; it must say what the registry says
    assert zoo.registry.read_name_index() == zoo.registry.name_index(), (
        "zoo/models.json is out of date: run python -m zoo.registry")


def test_model_info_and_filters():
    info = model_info("wgan_gp")
    assert info.cls is WGANGP and info.recipe == "recipes/wgan_gp/digits.yaml"
    assert info.paper.arxiv == "1704.00028" and info.paper.citation == "Gulrajani et al. 2017"
    assert info.paper.markdown() == "Gulrajani et al. 2017 [arXiv:1704.00028](https://arxiv.org/abs/1704.00028)"
    assert model_info("ae_conv").recipe == "recipes/ae/fashion_mnist.yaml"  # a variant names its recipe
    assert list_models(family="gan") == ["cgan", "dcgan", "gan", "gan_minimax", "infogan", "mad_gan", "progan", "wgan",
                                         "wgan_gp"]
    assert list_models("vae*", capability="likelihood") == ["vae", "vae_conv"]
    assert list_models(capability="translate") == []
    assert model_info("infogan").extra_metrics == ("code_accuracy",) and model_info("gan").extra_metrics == ()
    assert list_models(family="hybrid") == ["aae", "avb", "bigan", "vae_gan"]
    assert model_info("aae").extra_metrics == ("prior_mmd",)


def test_saved_files_record_the_primary_name_of_a_class():
    assert name_of_class(Autoencoder) == "ae"  # not its variant ae_conv
    assert name_of_class(WGANGP) == "wgan_gp"
    assert name_of_class(torch.nn.Linear) is None


def test_an_entry_point_must_name_the_class_it_returns(monkeypatch):
    monkeypatch.setattr(zoo.registry, "_entry_points", dict(zoo.registry._entry_points))

    def unannotated(**kwargs):
        return create_model("vae", **kwargs)

    register_model(unannotated)
    with pytest.raises(ConfigError, match=r"entry point 'unannotated' must be annotated with the class it returns"):
        model_info("unannotated")
