"""Conventions every stage shares, defined once (no torch here: the report uses them too)."""

IGNORE_INDEX = 255  # pixels never trained on nor counted in a metric: VOC's object borders, unlabelled pixels
# an object (a connected component of one class in the ground truth) is small below 32x32 pixels of area,
# medium below 96x96, else large (COCO's)
SMALL_AREA, MEDIUM_AREA = 32 * 32, 96 * 96  # pixels
SIZE_BUCKETS = ("small", "medium", "large")
