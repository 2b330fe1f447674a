"""Conventions every stage shares, defined once (no torch here: the report uses them too).

- IGNORE_INDEX: the label of pixels that count for nothing (VOC's object borders, unlabelled pixels);
  never trained on, never counted in a metric.
- Object sizes: an object is a connected component of one class in the ground truth; its size bucket
  follows COCO's areas in pixels: small < 32x32, medium < 96x96, large otherwise.
"""

IGNORE_INDEX = 255
SMALL_AREA, MEDIUM_AREA = 32 * 32, 96 * 96  # pixels
SIZE_BUCKETS = ("small", "medium", "large")
