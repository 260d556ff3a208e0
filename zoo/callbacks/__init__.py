from zoo.callbacks.image_grids import ImageGrids

__all__ = ["ImageGrids"]
