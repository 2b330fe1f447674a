"""The heads a model can be built with, each described once by a `HeadSpec`: what the rest of the package
asks of a head (its name in tables and run names, its role in comparisons, the options it takes), so that
nothing outside ksac_cli/models compares a head's name. No torch here: a class is named by a 'module:attr'
string, imported only when a model is built. The three kinds of head (built in, `@register_head`, a user's
`module:Class`) are docs/models.md's."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ksac_cli.errors import KsacError, unknown_name

BASELINE, CANDIDATE = "baseline", "candidate"  # a comparison is each candidate minus the baseline, same rates
OPTIONS = {"merge": "concat", "ksac_impl": "-"}  # head-specific ModelConfig fields -> their value for a head without them
USER_HEAD = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")  # pkg.module:Class


@dataclass(frozen=True)
class HeadSpec:
    name: str  # what --head, model.head and a row's head column say
    display: str  # in tables, plots and logs: "ASPP"
    build: str | Callable  # 'module:attr' (imported when a model is built) or the class: (in, rates, out, **extras)
    role: str | None = CANDIDATE  # BASELINE, CANDIDATE, or None (neither: the pretraining head)
    options: tuple[str, ...] = ()  # the head-specific ModelConfig fields it takes (OPTIONS' keys): in names and labels
    extras: tuple[str, ...] = ()  # ModelConfig fields passed as keywords beyond the contract (separable, dropout, ...)
    paper: bool = False  # the paper's claim (KSAC - ASPP, mIoU) is about this head
    atrous: bool = True  # False: the head has no atrous rates (they are left out of its label)
    user: bool = False  # a `module:Class` named by the user: imported only when named again (never from a file)

    def value(self, option: str, value):
        """`value` of a head-specific option (OPTIONS) when this head takes it, else the neutral value."""
        return value if option in self.options else OPTIONS[option]

    def label(self, merge: str = "concat", ksac_impl: str | None = None) -> str:
        """'KSAC (concat)', 'KSAC (concat, taps)' with an impl, 'ASPP': the head and the options it takes."""
        values = [v for o, v in (("merge", merge), ("ksac_impl", ksac_impl)) if o in self.options and v]
        return self.display + (f" ({', '.join(values)})" if values else "")

    def slug(self, merge: str = "concat") -> str:
        """The head in a run's folder name: 'ksac-concat', 'aspp', 'torchvision.models.segmentation.deeplabv3.ASPP'."""
        return self.name.replace(":", ".") + (f"-{merge}" if "merge" in self.options else "")


HEADS: dict[str, HeadSpec] = {}


def register(spec: HeadSpec) -> HeadSpec:
    """Add `spec` to the table; a name registered twice is an error (two heads would answer to it)."""
    if spec.name in HEADS and HEADS[spec.name] != spec:
        raise KsacError(f"head {spec.name!r} is registered twice ({HEADS[spec.name].build} and {spec.build})")
    HEADS[spec.name] = spec
    return spec


def register_head(name: str, display: str, **fields) -> Callable:
    """Class decorator: `@register_head("toy", "Toy")` registers the class as head `name` (a candidate unless
    `role=` says otherwise); it takes the contract `Class(in_channels, atrous_rates, out_channels)`."""
    def decorate(cls):
        register(HeadSpec(name, display, cls, **fields))
        return cls
    return decorate


_COMMON = ("separable", "dropout")
register(HeadSpec("aspp", "ASPP", "ksac_cli.models.heads.aspp:ASPP", BASELINE, extras=_COMMON))
register(HeadSpec("ksac", "KSAC", "ksac_cli.models.heads.ksac:KSAC", options=("merge", "ksac_impl"),
                  extras=(*_COMMON, "merge", "ksac_impl"), paper=True))
register(HeadSpec("pointwise", "neutral 1x1", "ksac_cli.models.heads.pointwise:Pointwise", None, extras=_COMMON,
                  atrous=False))  # ksac pretrain's neutral head: neither compared head is favoured
NEUTRAL = "pointwise"


def spec(name: str, key: str = "model.head") -> HeadSpec:
    """The spec of head `name`: registered, or a user's `module:Class` (made from the name: nothing is
    imported); an error naming `key` and the valid names otherwise."""
    if name in HEADS:
        return HEADS[name]
    if isinstance(name, str) and USER_HEAD.fullmatch(name):
        module, attr = name.split(":")
        return HeadSpec(name, f"{module.rsplit('.', 1)[-1]}:{attr}", name, user=True)
    raise KsacError(f"{key}: {unknown_name('head', name, tuple(HEADS))}, or your own class as module:Class "
                    f"(e.g. torchvision.models.segmentation.deeplabv3:ASPP)")


def model_label(head: str, merge: str, rates) -> str:
    """'KSAC (concat) 6,12,18', 'ASPP 6,12,18': how logs, tables and plots name a head and its rates."""
    s = spec(head)
    if not s.atrous:
        return f"{s.display} (no atrous rates)"
    return f"{s.label(merge)} {rates if isinstance(rates, str) else ','.join(map(str, rates))}"


def by_role(heads, role: str):
    """Whether each head of `heads` (a pandas Series of names: a column of rows) plays `role`."""
    return heads.map(lambda h: spec(h).role == role).astype(bool)


def refuse_untrusted(saved: str, given: str | None, trust: bool, source: str, can_name: bool = True) -> None:
    """A head named in a file (`source`: a checkpoint's config) is imported only when the user names it
    again (`given`, --head, where the command has it: `can_name`) or opts in (`trust`, --trust-head-code):
    a file never runs code by itself."""
    if not spec(saved).user or trust or given == saved:
        return
    name = f"--head {saved} to name it yourself, or " if can_name else ""
    raise KsacError(f"{source} names the head {saved!r}, a class of your own: importing it runs its code. Pass "
                    f"{name}--trust-head-code to import what the file names")
