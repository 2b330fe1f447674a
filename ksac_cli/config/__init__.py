"""Configuration: every default once (`schema`), the allowed values (`values`), dataclass <-> dict/YAML
(`coerce`), and recipes + flags -> a validated config (`load`). Data flows recipe -> config -> model + data
-> engine. Nothing here imports torch."""

from ksac_cli.config.coerce import dump_yaml, from_dict, short_hash, to_dict
from ksac_cli.config.load import (
    RECIPES,
    blame,
    load_run_config,
    load_yaml,
    merged,
    recipe_path,
    resolve_ablation,
    resolve_profile,
    resolve_run_config,
)
from ksac_cli.config.schema import (
    AblationGrid,
    AnalyzeConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    ProfileConfig,
    ProfileGrid,
    RunConfig,
    SyntheticConfig,
    TrainConfig,
    expand_models,
)
from ksac_cli.config.values import (
    AMP_MODES,
    BACKBONE_NAMES,
    DATASET_NAMES,
    KSAC_IMPLS,
    MERGES,
    OPTIMIZERS,
    OUTPUT_STRIDES,
    check_choice,
    check_device,
    check_name,
    finite,
    format_rates,
    parse_floats,
    parse_rates,
)

__all__ = ["AMP_MODES", "BACKBONE_NAMES", "DATASET_NAMES", "KSAC_IMPLS", "MERGES", "OPTIMIZERS",
           "OUTPUT_STRIDES", "RECIPES", "AblationGrid", "AnalyzeConfig", "DataConfig", "EvalConfig", "ModelConfig",
           "ProfileConfig",
           "ProfileGrid", "RunConfig", "SyntheticConfig", "TrainConfig", "blame", "check_choice", "check_device",
           "check_name", "dump_yaml", "expand_models", "finite", "format_rates", "from_dict", "load_run_config",
           "load_yaml", "merged", "parse_floats", "parse_rates", "recipe_path", "resolve_ablation", "resolve_profile", "resolve_run_config",
           "short_hash", "to_dict"]
