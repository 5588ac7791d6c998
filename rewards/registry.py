"""Reward registry: name -> `Reward` class, filled one way by `@register` on each implementation (verl-style).

    from thinkdial.rewards.base import Reward
    from thinkdial.rewards.registry import register

    @register
    class MyReward(Reward):
        name = "my_reward"          # the name reward configs use; taken once
        Params = MyParams           # a dataclass; its type hints validate a config's `params`

        def row(self, batch, i): ...

The registry imports no implementation: `thinkdial.rewards` (the package, `rewards/__init__.py`) imports
the built-in modules, whose decorators fill it; a new module of components goes on that import line. A reward config may also name a user's own reward by import path,
`name: my_pkg.rewards:MyReward` (a `Reward` subclass) or `name: my_pkg.rewards:my_func` (a plain TRL reward
function `fn(prompts, completions, **kwargs) -> list[float | None]`), so nobody has to fork thinkdial.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable

from thinkdial.errors import UsageError
from thinkdial.rewards.base import Reward

REWARDS: dict[str, type[Reward]] = {}
PATH_SEPARATOR = ":"  # `module:attribute` names a user's reward by import path


def register(cls: type[Reward]) -> type[Reward]:
    """Class decorator: add `Reward` subclass `cls` to REWARDS under its `name`; return `cls` unchanged.
    A name can be registered once; a class without `name`, or whose Params are not a typed dataclass, is refused."""
    check_reward_class(cls, f"@register {getattr(cls, '__qualname__', cls)!r}")
    if PATH_SEPARATOR in cls.name:
        raise UsageError(
            f"reward name '{cls.name}' must not contain '{PATH_SEPARATOR}' (that marks an import path)"
        )
    if cls.name in REWARDS:
        raise UsageError(f"reward '{cls.name}' is already registered (by {REWARDS[cls.name].__qualname__})")
    REWARDS[cls.name] = cls
    return cls


def check_reward_class(cls, what: str) -> None:
    """Raise a UsageError (naming `what`) unless `cls` is a Reward subclass with a str `name` and a dataclass
    `Params` whose type hints resolve; return None."""
    if not (isinstance(cls, type) and issubclass(cls, Reward)):
        raise UsageError(f"{what}: expected a Reward subclass, got {cls!r}")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise UsageError(f"{what}: a Reward subclass needs a class attribute `name` (str)")
    if not dataclasses.is_dataclass(cls.Params):
        raise UsageError(f"{what}: Params must be a dataclass, got {cls.Params!r}")
    try:
        typing.get_type_hints(cls.Params)
    except Exception as err:
        raise UsageError(
            f"{what}: the type hints of {cls.Params.__qualname__} do not resolve: {err}"
        ) from None


def resolve(name: str) -> type[Reward] | Callable:
    """Return the reward `name` stands for: a registered class, or the Reward subclass or plain TRL reward
    function at import path `module:attribute`. Unknown names and bad paths raise one-line UsageErrors."""
    if PATH_SEPARATOR in name:
        return _import_reward(name)
    if name not in REWARDS:
        raise UsageError(
            f"unknown reward '{name}'; choose one of: {', '.join(sorted(REWARDS))} "
            f"(or name your own as module{PATH_SEPARATOR}attribute)"
        )
    return REWARDS[name]


def _import_reward(path: str) -> type[Reward] | Callable:
    module_name, _, attr = path.partition(PATH_SEPARATOR)
    what = f"reward '{path}'"
    if not module_name or not attr:
        raise UsageError(f"{what}: expected module{PATH_SEPARATOR}attribute, e.g. my_pkg.rewards:MyReward")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name + ".").startswith(err.name + "."):
            raise UsageError(
                f"{what}: module '{module_name}' not found; install it or put its folder on PYTHONPATH"
            ) from None
        raise UsageError(f"{what}: importing module '{module_name}' failed: {err}") from err
    if not hasattr(module, attr):
        raise UsageError(f"{what}: module '{module_name}' has no attribute '{attr}'")
    found = getattr(module, attr)
    if isinstance(found, type) and issubclass(found, Reward):
        check_reward_class(found, what)
        return found
    if callable(found) and not isinstance(found, type) and hasattr(found, "__name__"):
        return found
    raise UsageError(
        f"{what}: {attr} is not a reward: expected a Reward subclass or a TRL reward function "
        f"fn(prompts, completions, **kwargs), got {type(found).__name__}"
    )


def type_name(hint) -> str:
    """Return the readable form of a type hint: 'int', 'float | None', 'list[int]'."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _matches(value, hint) -> bool:
    """Return whether a YAML value fits type hint `hint` (bool is not a number; floats must be finite)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if hint is typing.Any:
        return True
    if hint is type(None):
        return value is None
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    if origin in (list, dict) and args:
        if not isinstance(value, origin):
            return False
        pairs = value.items() if origin is dict else [(None, v) for v in value]
        key_hint = args[0] if origin is dict else type(None)
        return all(_matches(k, key_hint) and _matches(v, args[-1]) for k, v in pairs)
    return isinstance(value, origin or hint)


def _as_declared(value, hint):
    """Return `value` as a float when it is an int and `hint` takes floats but not ints (YAML writes 1 for 1.0)."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if isinstance(value, int) and not isinstance(value, bool) and float in members and int not in members:
        return float(value)
    return value


def make_params(name: str, params: dict, warmup_steps: int = 0):
    """Return the validated `Params` of reward `name` built from `params`, checked against the dataclass's
    type hints; None for a plain reward function, which takes neither params nor warmup_steps."""
    reward = resolve(name)
    if not isinstance(reward, type):
        if params or warmup_steps:
            raise UsageError(
                f"reward '{name}' is a plain function: it takes no params or warmup_steps (write a "
                "Reward subclass for those)"
            )
        return None
    hints = typing.get_type_hints(reward.Params)
    fields = {f.name: f for f in dataclasses.fields(reward.Params)}
    for key, value in params.items():
        if key not in fields:
            raise UsageError(f"unknown param '{key}'; accepted: {', '.join(fields) or 'none'}")
        if not _matches(value, hints[key]):
            raise UsageError(f"param '{key}' must be {type_name(hints[key])}, got {value!r}")
    for key, f in fields.items():
        if (
            key not in params
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            raise UsageError(f"missing required param '{key}'")
    return reward.Params(**{key: _as_declared(value, hints[key]) for key, value in params.items()})


def get_reward(name: str, tokenizer, params: dict | None = None, warmup_steps: int = 0) -> Reward | Callable:
    """Return the TRL reward callable of `name`: an instance of its Reward class (its `__name__` is the
    class's `name`), or a plain reward function itself."""
    validated = make_params(name, params or {}, warmup_steps)
    reward = resolve(name)
    if not isinstance(reward, type):
        return reward
    return reward(tokenizer, validated, warmup_steps=warmup_steps)


def build_reward_funcs(config, tokenizer) -> tuple[list[Reward | Callable], list[float]]:
    """Return the reward callables of a `RewardConfig` (rewards/config.py) and their weights, for
    `GRPOTrainer(reward_funcs=...)` and `GRPOConfig.reward_weights`.
    """
    funcs = [get_reward(c.name, tokenizer, c.params, warmup_steps=c.warmup_steps) for c in config.components]
    return funcs, [float(c.weight) for c in config.components]
