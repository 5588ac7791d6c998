"""Synthetic task families whose difficulty and minimum reasoning length are known exactly.

Both families are a chain of k operations applied in order to a running value mod 10; the level is k.
The prompt has a fixed number of operation slots (8): slot j sits at a fixed distance from step j
of the trace, which a tiny model learns far faster than labelled steps. Slots past the k-th hold an
*inactive* operation (drawn at random, marked inactive) so that even level 1 has millions of
distinct prompts and train / test can be split by content hash.

- `permchain`: each op is a letter naming a fixed random permutation of 0-9 (the "world", fixed by
  `WORLD_SEED`); active ops are upper case A-F, inactive ones lower case a-f.
  `5:CFAhbfde=` -> apply C, F, A to 5.
- `affinechain`: each op is `+d` (add d) or `*d` (multiply by d in {3, 7, 9}) mod 10; inactive slots
  are `.d`. `4:+3*7.2.5.1.0.8.6=`. Non-commutative, so no one-pass shortcut like a digit sum.
- `pointerchain`: steps of another kind, in-context retrieval instead of memorised tables. The prompt
  carries its own random map of the digits, as shuffled key-value pairs with keys a-j standing for 0-9
  (`c4` says 2 -> 4), a start digit and k `>` marks (inactive slots `.`): follow the map k times.
  `c4a7...:2>>......=`. Each step finds the pair of the current value in the prompt and reads its digit.

The minimal trace is the k intermediate values, one digit (one token) each, so
`min_reasoning_tokens = k`. Direct answers are a single lookup at level 1 and a composition of k
random maps at level k: near chance (10%) for a tiny model once k >= 3.

Reasoning styles (used to build SFT warm-start mixtures, `render_reasoning`):
  direct   ""                                  (0 tokens)
  minimal  "v1v2...vk"                         (k tokens)
  verbose  "A:v1 B:v2 ..." op label, colon, value, space   (4k tokens for permchain, 5k for affinechain)
  recheck  verbose, then "?", then the minimal chain again (5k + 1 tokens)
  giveup   the first k // 2 values of the minimal chain, then a guessed answer (under-thinking: it
           stops half-way and guesses; correct only by chance)
  lastdirect  the minimal chain without its last value (k - 1 tokens): the last step is answered directly,
           as level 1 is (one lookup); the shortest trace that solves a level, used where a budget is one
           token short of the minimal chain
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

NUM_SLOTS = 8
MODULUS = 10
WORLD_SEED = 20261128
OP_LETTERS = "ABCDEF"  # six fixed permutations: 60 lookup facts, learnt in a few hundred SFT steps
STYLES = ("direct", "minimal", "verbose", "recheck", "giveup", "lastdirect")


def _world_permutations() -> dict[str, list[int]]:
    rng = random.Random(WORLD_SEED)
    perms = {}
    for letter in OP_LETTERS:
        perm = list(range(MODULUS))
        rng.shuffle(perm)
        perms[letter] = perm
    return perms


PERMUTATIONS = _world_permutations()
AFFINE_MULTIPLIERS = (3, 7, 9)


@dataclass(frozen=True)
class Problem:
    """One chain problem: its prompt, the active op labels and the running values."""

    prompt: str
    ops: tuple[str, ...]
    values: tuple[int, ...]  # value after each active op; values[-1] is the answer

    @property
    def answer(self) -> str:
        return str(self.values[-1])


def _permchain(rng: random.Random, level: int) -> Problem:
    start = rng.randrange(MODULUS)
    ops = [rng.choice(OP_LETTERS) for _ in range(level)]
    inactive = [rng.choice(OP_LETTERS.lower()) for _ in range(NUM_SLOTS - level)]
    values, v = [], start
    for op in ops:
        v = PERMUTATIONS[op][v]
        values.append(v)
    return Problem(f"{start}:{''.join(ops)}{''.join(inactive)}=", tuple(ops), tuple(values))


def _affine_op(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"+{rng.randrange(1, MODULUS)}"
    return f"*{rng.choice(AFFINE_MULTIPLIERS)}"


def _affinechain(rng: random.Random, level: int) -> Problem:
    start = rng.randrange(MODULUS)
    ops = [_affine_op(rng) for _ in range(level)]
    inactive = [f".{rng.randrange(MODULUS)}" for _ in range(NUM_SLOTS - level)]
    values, v = [], start
    for op in ops:
        d = int(op[1])
        v = (v + d) % MODULUS if op[0] == "+" else (v * d) % MODULUS
        values.append(v)
    return Problem(f"{start}:{''.join(ops)}{''.join(inactive)}=", tuple(ops), tuple(values))


POINTER_KEYS = "abcdefghij"  # key letter of digit d is POINTER_KEYS[d]


def _pointerchain(rng: random.Random, level: int) -> Problem:
    target = list(range(MODULUS))
    rng.shuffle(target)
    pairs = [f"{POINTER_KEYS[d]}{target[d]}" for d in range(MODULUS)]
    rng.shuffle(pairs)
    start = rng.randrange(MODULUS)
    values, v = [], start
    for _ in range(level):
        v = target[v]
        values.append(v)
    ops = tuple(str(u) for u in (start, *values[:-1]))  # the value each step looks up
    return Problem(f"{''.join(pairs)}:{start}{'>' * level}{'.' * (NUM_SLOTS - level)}=", ops, tuple(values))


FAMILIES: dict[str, Callable[[random.Random, int], Problem]] = {
    "permchain": _permchain,
    "affinechain": _affinechain,
    "pointerchain": _pointerchain,
}
MAX_LEVEL = NUM_SLOTS


def make_problem(family: str, rng: random.Random, level: int) -> Problem:
    """Return a random problem of `family` at difficulty `level` (= number of active ops)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown synthetic family {family!r}; choices: {sorted(FAMILIES)}")
    if not 1 <= level <= MAX_LEVEL:
        raise ValueError(f"level {level} out of range for {family!r}: levels are 1..{MAX_LEVEL}")
    return FAMILIES[family](rng, level)


def render_reasoning(problem: Problem, style: str) -> str:
    """Return the reasoning text of `problem` in `style` (one of STYLES)."""
    digits = "".join(str(v) for v in problem.values)
    if style == "direct":
        return ""
    if style == "minimal":
        return digits
    if style == "giveup":
        return digits[: len(digits) // 2]
    if style == "lastdirect":
        return digits[:-1]
    verbose = "".join(f"{op}:{v} " for op, v in zip(problem.ops, problem.values, strict=True))
    if style == "verbose":
        return verbose
    if style == "recheck":
        return f"{verbose}?{digits}"
    raise ValueError(f"unknown reasoning style {style!r}; choices: {list(STYLES)}")


def render_answer(problem: Problem, style: str, rng: random.Random) -> str:
    """Return the answer the `style` trace ends with: the gold answer, or a uniform guess for `giveup`."""
    return str(rng.randrange(ANSWER_SPACE)) if style == "giveup" else problem.answer


ANSWER_SPACE = MODULUS  # every synthetic answer is one digit 0-9


def chance_accuracy(source: str) -> float | None:
    """Return the accuracy of a uniform guess over `source`'s answers (synthetic families), else None."""
    return 1.0 / ANSWER_SPACE if source in FAMILIES else None
