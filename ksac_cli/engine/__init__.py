"""The training loop and evaluation as plain functions, metrics, checkpoints, data order."""
