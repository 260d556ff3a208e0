"""Errors a user can fix. The CLI prints these as one line and exits non-zero, without a traceback.

Each class also derives from the builtin a caller would expect (``ValueError``, ``FileNotFoundError``,
``KeyError``), so ``except ValueError`` keeps working for library users.
"""


class ZooError(Exception):
    """Base class: a bad input, with a message that names the bad value and the fix."""

    def __str__(self) -> str:  # KeyError would otherwise repr() its message, quotes included
        return str(self.args[0]) if self.args else ""


class ConfigError(ZooError, ValueError):
    """A hyperparameter or argument is out of range or inconsistent with the data."""


class InputError(ZooError, ValueError):
    """A tensor given to a public method breaks the contract: images are float (N, C, H, W) in [0, 1], finite;
    codes are (N, latent_dim); counts are ints >= 1."""


class UnknownModelError(ZooError, KeyError):
    """A model or pretrained name is not registered."""


class DatasetNotFoundError(ZooError, FileNotFoundError):
    """A dataset is not on disk and cannot (or may not) be downloaded."""


class WeightsError(ZooError, ValueError):
    """A weights file is missing, tampered with, truncated or of the wrong kind."""


class CapabilityError(ZooError, ValueError):
    """A model was asked for something it cannot do (sample a translator, the likelihood of a GAN)."""


class DivergenceError(ZooError, FloatingPointError):
    """Training produced a non-finite loss or non-finite weights; the run stops (the CLI exits 1, not 2: the
    input was valid, the optimisation failed) and keeps its last checkpoint with finite weights."""

    exit_code = 1
