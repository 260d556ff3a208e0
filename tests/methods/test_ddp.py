"""Methods train under DDP on 2 CPU ranks (gloo) and the ranks end with identical state.

One case per engine shape, not per method (each case starts 2 processes). The same recipes then run on GPUs
and multi-node without change. The AE case guards its running code statistics (buffers each rank updates
from its own batch; they must be averaged across ranks); the VAE is the plain single-objective loop. The
WGAN-GP case runs the two-player engine's alternating updates (DDP must expect the idle player's unused
parameters), the gradient penalty's double backward, and the generator EMA, with a virtual-batch-norm
generator whose reference batch (a buffer) must be the same on both ranks. The three-player toy
(tests/methods/players_toy.py) runs players of three periods, a net in two players, weight clipping and the
EMA of a two-net player. The GAN family's second part adds labels entering G and a projection D (cGAN), a
Q head stepped with G while D's optimizer steps the body they share (InfoGAN), and k generators sharing all
but their first layer against a (k+1)-way D (MAD-GAN). The hybrids add an encoder in two players and a D on
codes reading labels, some hidden at random (the label-conditioned AAE). Progressive GAN grows during the run:
blocks unused at first, a schedule counted over both ranks' images."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
#: virtual batch norm (Salimans et al. 2016): every rank must normalise with the same reference batch
VIRTUAL_BN_GENERATOR = {"class_path": "zoo.nets.DCGANGenerator",
                        "init_args": {"width": 8, "norm": "virtual", "reference_batch": 4}}


INFOGAN_TINY = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 8}},
    "discriminator": {"class_path": "zoo.nets.InfoGANDiscriminator", "init_args": {"width": 8, "features": 16}},
}

#: 4 batches of 16 per rank (8 optimizer steps), 32 images per batch over both ranks: 4x4 for the first two, then
#: the fade to 8x8 at alpha 0.5 and 1 (the 8x8 blocks join DDP's reduction mid-run, unused until then)
PROGAN_TINY = {net: {"class_path": f"zoo.nets.ProGAN{net.title()}",
                     "init_args": {"channel_base": 32, "max_channels": 8}} for net in ("generator", "discriminator")}


@pytest.mark.parametrize(
    "name, kwargs",
    [("ae", {}), ("vae", {}), ("wgan_gp", {"n_critic": 2, "ema_decay": 0.9, "generator": VIRTUAL_BN_GENERATOR}),
     ("tests.methods.players_toy:ThreePlayerToy", {"ema_decay": 0.9}),
     ("cgan", {"discriminator_conditioning": "projection"}),
     ("infogan", {"latent_dim": None, "noise_dim": 4, "q_hidden": 8, **INFOGAN_TINY}),
     ("mad_gan", {"num_generators": 3}),
     ("aae", {"prior": "mixture", "latent_dim": 2, "label_conditioned": True, "num_classes": 10,
              "labeled_fraction": 0.5}),
     ("progan", {"fade_images": 32, "stable_images": 48, "generator": PROGAN_TINY["generator"],
                 "discriminator": PROGAN_TINY["discriminator"]}),
     ("vae_gan", {}), ("avb", {"adaptive_contrast": True})],
    ids=["ae", "vae", "wgan_gp", "three_players", "cgan_projection", "infogan", "mad_gan", "aae", "progan", "vae_gan",
         "avb_adaptive_contrast"],
)
def test_two_cpu_ranks_stay_identical(name, kwargs, tmp_path):
    out = tmp_path / "checksums.pt"
    done = subprocess.run(
        [sys.executable, str(WORKER), name, str(out), json.dumps(kwargs)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    checksums = torch.load(out)
    assert checksums.shape == (2, 3)  # both ranks reported
    torch.testing.assert_close(checksums[1], checksums[0], rtol=0, atol=0)
