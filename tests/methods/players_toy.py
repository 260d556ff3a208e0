"""A three-player method written on the engine in a few lines, for the engine's tests (tests/methods/test_players.py,
and tests/methods/ddp_worker.py on 2 ranks): a discriminator; a generator player that updates the generator
*and* the encoder on every 2nd batch; an encoder player on every 3rd batch, with its weights clamped, that
regresses z from the generator's samples handed on through the cache."""
import torch
import torch.nn.functional as F

from zoo.losses import discriminator_loss, generator_non_saturating_loss
from zoo.methods import GenerativeModel, MultiPlayerModel, Player
from zoo.nets import MLPDecoder, MLPEncoder

SGD = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05}}


class ThreePlayerToy(MultiPlayerModel, GenerativeModel):
    players = {"discriminator": Player(("discriminator",), log_as="d"),
               "generator": Player(("generator", "encoder"), every=2, ema=True, log_as="g"),  # encoder in 2 players
               "encoder": Player(("encoder",), every="encoder_period", clip_weights="clip_value", log_as="e")}
    default_optimizers = dict.fromkeys(players, SGD)

    def __init__(self, *, in_shape=(1, 8, 8), latent_dim: int = 3, encoder_period: int = 3, clip_value: float = 0.05,
                 **engine) -> None:
        super().__init__(in_shape=in_shape, **engine)
        self.latent_dim, self.encoder_period, self.clip_value = latent_dim, encoder_period, clip_value
        self.generator = MLPDecoder(latent_dim, self.in_shape, hidden=(16,))
        self.discriminator = MLPEncoder(self.in_shape, 1, hidden=(16,))
        self.encoder = MLPEncoder(self.in_shape, latent_dim, hidden=(16,))
        self.build_ema()
        self.save_plain_hyperparameters()

    def objective(self, player, batch, cache):
        x = self.images(batch)
        if player == "discriminator":
            fake = torch.sigmoid(self.generator(self.randn(len(x), self.latent_dim)))
            real_scores, fake_scores = self.discriminator(x).view(-1), self.discriminator(fake).view(-1)
            return {"loss": discriminator_loss(real_scores, fake_scores).mean()}
        if player == "generator":
            cache["z"] = self.randn(len(x), self.latent_dim)
            cache["fake"] = torch.sigmoid(self.generator(cache["z"]))
            reconstruction = F.mse_loss(torch.sigmoid(self.generator(self.encoder(x))), x)
            adversarial = generator_non_saturating_loss(self.discriminator(cache["fake"]).view(-1)).mean()
            return {"loss": adversarial + reconstruction, "reconstruction": reconstruction}
        z = cache["z"] if "z" in cache else self.randn(len(x), self.latent_dim)  # G's, when it updated
        fake = cache["fake"] if "fake" in cache else torch.sigmoid(self.generator(z))
        return {"loss": F.mse_loss(self.encoder(fake), z)}

    def sample(self, n, *, generator=None):
        return torch.sigmoid(self.sampling_net("generator")(self.randn(n, self.latent_dim, generator=generator)))
