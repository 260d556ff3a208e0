from zoo.callbacks.budget import CPUBudget
from zoo.callbacks.checkpoint import ModelCheckpoint
from zoo.callbacks.evaluation import PeriodicFID
from zoo.callbacks.image_grids import ImageGrids

__all__ = ["CPUBudget", "ImageGrids", "ModelCheckpoint", "PeriodicFID"]
