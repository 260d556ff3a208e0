from zoo.callbacks.evaluation import PeriodicFID
from zoo.callbacks.image_grids import ImageGrids

__all__ = ["ImageGrids", "PeriodicFID"]
