"""zoo: a PyTorch Lightning model zoo of deep generative models.

    import zoo
    zoo.list_models()                                   # ['ae', 'ae_conv', 'dae', ..., 'vae', 'vae_conv']
    model = zoo.create_model("vae", in_shape=(1, 28, 28), latent_dim=16)
    x = model.sample(16)                                # (16, 1, 28, 28), float in [0, 1]
    model = zoo.load("runs/vae/digits/.../checkpoints/last.ckpt")
"""
__version__ = "0.1.0"

from zoo import methods  # noqa: E402,F401  (registers the entry points)
from zoo.registry import create_model, list_models, register_model  # noqa: E402
from zoo.weights import Weights, list_pretrained, load  # noqa: E402
from zoo import pretrained  # noqa: E402,F401  (registers the shipped weights)

__all__ = ["Weights", "create_model", "list_models", "list_pretrained", "load", "register_model"]
