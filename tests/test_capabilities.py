"""Capabilities: what each registered method declares matches what it implements, the leaderboard's tasks
follow from them, and asking a model for what it cannot do is one clear line (exit 2 from the CLI)."""
from __future__ import annotations

import pytest

import zoo
from zoo.capabilities import (
    CAPABILITIES,
    CLASSIFY,
    COMPLETE,
    CONDITIONAL,
    DECODE,
    ENCODE,
    LIKELIHOOD,
    LIKELIHOOD_KINDS,
    RECONSTRUCT,
    SAMPLE,
    TRANSLATE,
    require,
    tasks_of,
)
from zoo.cli import main
from zoo.errors import CapabilityError
from zoo.methods import GenerativeModel, LatentVariableModel, ZooModule
from zoo.methods.base import init_arguments
from zoo.registry import model_info

#: capability -> what a class that declares it must define beyond the bases' placeholders
IMPLEMENTS = {
    SAMPLE: lambda cls: cls.sample is not GenerativeModel.sample,
    DECODE: lambda cls: cls.decode is not LatentVariableModel.decode and "latent_dim" in init_arguments(cls),
    ENCODE: lambda cls: cls.encode is not LatentVariableModel.encode,
    RECONSTRUCT: lambda cls: callable(getattr(cls, "reconstruct", None)),
    LIKELIHOOD: lambda cls: callable(getattr(cls, "log_likelihood", None)) and cls.likelihood_kind in LIKELIHOOD_KINDS,
    CONDITIONAL: lambda cls: "num_classes" in init_arguments(cls),
    TRANSLATE: lambda cls: callable(getattr(cls, "translate", None)),
    CLASSIFY: lambda cls: callable(getattr(cls, "predict", None)),
    COMPLETE: lambda cls: callable(getattr(cls, "complete", None)),
}


@pytest.mark.parametrize("name", zoo.list_models())
def test_declared_capabilities_are_implemented(name):
    cls = model_info(name).cls
    assert cls.capabilities <= set(CAPABILITIES)
    for capability in cls.capabilities:
        assert IMPLEMENTS[capability](cls), f"{name} declares {capability!r} but does not implement it"
    assert (cls.likelihood_kind is not None) == (LIKELIHOOD in cls.capabilities)


def test_tasks_follow_from_capabilities():
    assert tasks_of(model_info("vae").cls) == ("generation", "likelihood", "representation")
    assert tasks_of(model_info("wgan_gp").cls) == ("generation",)

    class Conditional(ZooModule):
        capabilities = frozenset({SAMPLE, CONDITIONAL})

    class Translator(ZooModule):
        capabilities = frozenset({TRANSLATE})

    assert tasks_of(Conditional) == ("conditional_generation",)
    assert tasks_of(Translator) == ("translation",)


def test_asking_for_a_missing_capability_is_one_line_naming_who_can():
    model = zoo.create_model("dcgan", in_shape=(1, 8, 8))
    with pytest.raises(CapabilityError) as info:
        require(model, LIKELIHOOD, to="compute nll", name="dcgan.digits")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("dcgan.digits (DCGAN) cannot compute nll: it has no 'likelihood' capability")
    able = zoo.list_models(capability=LIKELIHOOD)  # the registry's, in its order: a new likelihood model joins
    assert {"pixelcnn", "gated_pixelcnn", "vae", "vae_conv"} <= set(able)
    assert "(it has decode, sample)" in message and f"models that can: {', '.join(able)}" in message
    require(model, SAMPLE, to="sample")  # declared: no error


def test_zoo_evaluate_nll_of_a_gan_exits_2_with_one_line(capsys):
    assert main(["evaluate", "dcgan.digits", "--data", "digits", "--metrics", "nll"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dcgan.digits (DCGAN) cannot compute nll (drop it from --metrics)" in err[0]
