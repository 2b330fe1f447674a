"""The library API the CLI is thin over: one module per command, plain arguments and configs in, files
and rows out. Nothing here prints or imports the CLI libraries; progress goes through callbacks."""

from ksac_cli.workflows.ablate import (
                                      ablate,
                                      ablate_cells,
                                      emit_jobs,
                                      measure_cell,
                                      plan_cell,
)
from ksac_cli.workflows.data import data_check, data_synth
from ksac_cli.workflows.evaluate import evaluate_checkpoint
from ksac_cli.workflows.profile import describe, describe_row, describe_variant, profile
from ksac_cli.workflows.report import report
from ksac_cli.workflows.train import (
                                      is_distributed,
                                      is_main_process,
                                      launch_torchrun,
                                      recipe_path,
                                      resolve_run_config,
                                      train,
)

__all__ = ["ablate", "ablate_cells", "data_check", "data_synth", "describe", "describe_row", "describe_variant",
           "emit_jobs",
           "evaluate_checkpoint", "is_distributed", "is_main_process", "launch_torchrun", "measure_cell",
           "plan_cell", "profile", "recipe_path", "report", "resolve_run_config", "train"]
