"""The dial: a per-request thinking budget and effort level, and the one control text that carries them.

A row may carry `budget` (reasoning tokens: the tokens inside the think block, as vLLM's
`thinking_token_budget` and SGLang's `thinking_budget` count them) and `effort` (low | medium | high).
The model sees them through one control text. `control_prompt` renders it for the training data, the
eval and `thinkdial generate`; `dial_chat_template` renders the same text, in Jinja, in the exported
chat template (keyword arguments `thinking_budget` and `reasoning_effort`, as Qwen3 takes
`enable_thinking`):

- chat prompts (messages): the effort as a last line `Reasoning: low` of the system message, after a
  blank line (the gpt-oss / OpenAI `reasoning_effort` convention; a system message `Reasoning: low` is
  added when there is none); the budget as L1's `Think for maximum N tokens.` after a blank line at the
  end of the last user message.
- plain prompts (text, the tiny default): a compact prefix at the very start, `[effort=low] ` or
  `[think<=8] ` (printable ASCII, so the tiny char tokenizer encodes it; at the start, so the
  synthetic tasks' fixed distances between prompt slots and trace steps are kept).

One rule everywhere: a request with an effort shows the effort only (its budget is its tier's, read by
the reward and the hard cap); otherwise a budget shows the budget; with neither, the prompt is
unchanged. Rendering is idempotent: a prompt that already carries that exact control text is returned
as is, so rows written by `thinkdial data --out` read back unchanged.

The data config's `dial:` block (`DialConfig`) gives train rows a budget or an effort: per row one
draw, seeded by the config seed and the prompt's content hash (one budget per prompt; GRPO repeats a
row for its group, so every completion of a group shares it).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field, fields

from thinkdial.errors import UsageError

EFFORTS = ("low", "medium", "high")
PLAIN_EFFORT = "[effort={}] "
PLAIN_BUDGET = "[think<={}] "
CHAT_EFFORT = "Reasoning: {}"  # a line of the system message, after a blank line
CHAT_BUDGET = "\n\nThink for maximum {} tokens."  # appended to the last user message
CHAT_SEPARATOR = "\n\n"
TEMPLATE_MARKER = "{#- thinkdial dial:"


def parse_budget(value, where: str) -> int | None:
    """Return `value` as a budget in reasoning tokens (an int >= 0), or None when it is missing (None,
    NaN, an empty string); raise a one-line UsageError starting with `where` otherwise."""
    if (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    ):
        return None
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
        or number != int(number)
        or number < 0
    ):
        raise UsageError(f"{where}: budget must be a whole number of reasoning tokens >= 0, got {value!r}")
    return int(number)


def parse_effort(value, where: str) -> str | None:
    """Return `value` as an effort level (one of EFFORTS, case and spaces ignored), or None when it is
    missing (None, NaN, an empty string); raise a one-line UsageError starting with `where` otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    effort = value.strip().lower() if isinstance(value, str) else value
    if effort not in EFFORTS:
        raise UsageError(f"{where}: effort must be one of {', '.join(EFFORTS)}, got {value!r}")
    return effort


def control_prompt(prompt, budget_tokens=None, effort=None):
    """Return `prompt` (text, or chat messages) with the dial's control text for `effort` or, without one,
    `budget_tokens` (see the module docstring); `prompt` itself when both are None."""
    budget = parse_budget(budget_tokens, "thinking budget")
    effort = parse_effort(effort, "reasoning effort")
    if effort is None and budget is None:
        return prompt
    if isinstance(prompt, str):
        prefix = PLAIN_EFFORT.format(effort) if effort else PLAIN_BUDGET.format(budget)
        return prompt if prompt.startswith(prefix) else prefix + prompt
    messages = [dict(m) for m in prompt]
    if effort:
        line = CHAT_EFFORT.format(effort)
        if not messages or messages[0]["role"] != "system":
            return [{"role": "system", "content": line}, *messages]
        if not messages[0]["content"].endswith(line):
            messages[0]["content"] += CHAT_SEPARATOR + line
        return messages
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        raise UsageError("thinking budget: the chat prompt has no user message to carry it")
    suffix = CHAT_BUDGET.format(budget)
    if not messages[users[-1]]["content"].endswith(suffix):
        messages[users[-1]]["content"] += suffix
    return messages


@dataclass
class DialConfig:
    """The data config's `dial:` block: which train rows get a thinking budget or an effort level.

    Each train row without its own budget / effort draws: no dial (`no_budget_share`), an effort level
    (`effort_share`, uniform over the tiers of `effort_budgets`; its budget is the tier's), or else a
    budget from the log-uniform range or the list.
    """

    budget_tokens_min: int | None = field(
        default=None,
        metadata={
            "help": "Smallest budget of the log-uniform distribution, in reasoning tokens (>= 1); with budget_tokens_max."
        },
    )
    budget_tokens_max: int | None = field(
        default=None,
        metadata={"help": "Largest budget of the log-uniform distribution, in reasoning tokens (inclusive)."},
    )
    budget_tokens_choices: list[int] | None = field(
        default=None,
        metadata={
            "help": "Budgets in reasoning tokens drawn uniformly from this list, instead of the log-uniform range."
        },
    )
    no_budget_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of rows with neither budget nor effort (the model chooses its own length there)."
        },
    )
    effort_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of rows with an effort level; such a row's budget is its tier's (effort_budgets)."
        },
    )
    effort_budgets: dict[str, int] | None = field(
        default=None,
        metadata={
            "help": f"Effort tier -> budget in reasoning tokens for this model, tiers among {EFFORTS}, e.g. "
            "{low: 4, medium: 8, high: 16}. Also fills the budget of file rows that carry only an effort."
        },
    )
    need_relative_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of the budget rows (not the effort rows) whose budget is drawn relative to the row's "
            "min_reasoning_tokens (its need n): round(n * f), f log-uniform in [need_factor_min, "
            "need_factor_max], at least 1. Such budgets bind where the dial's choices are made (stop at the "
            "budget, finish with the last step answered directly, or do not start); every train row then "
            "needs min_reasoning_tokens."
        },
    )
    need_factor_min: float = field(
        default=0.5, metadata={"help": "Smallest factor of a need-relative budget (see need_relative_share)."}
    )
    need_factor_max: float = field(
        default=2.0, metadata={"help": "Largest factor of a need-relative budget (see need_relative_share)."}
    )

    def __post_init__(self):
        for name in ("no_budget_share", "effort_share", "need_relative_share"):
            share = getattr(self, name)
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise UsageError(f"data config: dial.{name} must be a number in [0, 1], got {share!r}")
        if self.no_budget_share + self.effort_share > 1:
            raise UsageError(
                f"data config: dial.no_budget_share + dial.effort_share must be <= 1 (the rest of "
                f"the rows get a budget), got {self.no_budget_share} + {self.effort_share}"
            )
        if self.effort_budgets is not None:
            if not isinstance(self.effort_budgets, dict) or not self.effort_budgets:
                raise UsageError(
                    f"data config: dial.effort_budgets must map tiers among {EFFORTS} to budgets, "
                    f"got {self.effort_budgets!r}"
                )
            self.effort_budgets = {
                parse_effort(k, "data config: dial.effort_budgets"): _required_budget(
                    v, f"data config: dial.effort_budgets.{k}"
                )
                for k, v in self.effort_budgets.items()
            }
        if self.effort_share > 0 and not self.effort_budgets:
            raise UsageError(
                "data config: dial.effort_share > 0 needs dial.effort_budgets, the budget of each "
                "effort tier, e.g. {low: 4, medium: 8, high: 16}"
            )
        self._check_budget_distribution()
        factors = (self.need_factor_min, self.need_factor_max)
        if any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in factors) or not (
            0 < factors[0] <= factors[1]
        ):
            raise UsageError(
                f"data config: dial needs 0 < need_factor_min <= need_factor_max (need-relative budgets), "
                f"got {factors[0]!r} and {factors[1]!r}"
            )

    def _check_budget_distribution(self) -> None:
        bounds = (self.budget_tokens_min, self.budget_tokens_max)
        if (bounds[0] is None) != (bounds[1] is None):
            raise UsageError(
                "data config: dial.budget_tokens_min and dial.budget_tokens_max go together "
                "(the log-uniform range); set both"
            )
        if bounds[0] is not None and self.budget_tokens_choices is not None:
            raise UsageError(
                "data config: dial: give either budget_tokens_min/max (log-uniform) or "
                "budget_tokens_choices (a list), not both"
            )
        if bounds[0] is not None:
            low = _required_budget(bounds[0], "data config: dial.budget_tokens_min")
            high = _required_budget(bounds[1], "data config: dial.budget_tokens_max")
            if not 1 <= low <= high:
                raise UsageError(
                    f"data config: dial needs 1 <= budget_tokens_min <= budget_tokens_max (a "
                    f"log-uniform range starts at 1 or more), got {low} and {high}"
                )
            self.budget_tokens_min, self.budget_tokens_max = low, high
        elif self.budget_tokens_choices is not None:
            if not isinstance(self.budget_tokens_choices, list) or not self.budget_tokens_choices:
                raise UsageError(
                    f"data config: dial.budget_tokens_choices must be a non-empty list of budgets, "
                    f"got {self.budget_tokens_choices!r}"
                )
            self.budget_tokens_choices = [
                _required_budget(b, f"data config: dial.budget_tokens_choices[{i}]")
                for i, b in enumerate(self.budget_tokens_choices)
            ]
        elif self.no_budget_share + self.effort_share < 1:
            raise UsageError(
                "data config: dial: rows with a budget need budget_tokens_min/max (log-uniform) or "
                "budget_tokens_choices; or set no_budget_share + effort_share to 1"
            )

    def draw(
        self, key: str, need_tokens: int | None = None, where: str = "train row"
    ) -> tuple[int | None, str | None]:
        """Return the (budget_tokens, effort) of the row whose seed string is `key` (both None: no dial);
        `need_tokens` is the row's min_reasoning_tokens, required when its budget is drawn relative to it
        (a UsageError starting with `where` when it is missing)."""
        rng = random.Random(f"dial:{key}")
        u = rng.random()
        if u < self.no_budget_share:
            return None, None
        if u < self.no_budget_share + self.effort_share:
            effort = rng.choice([e for e in EFFORTS if e in self.effort_budgets])
            return self.effort_budgets[effort], effort
        if self.need_relative_share and rng.random() < self.need_relative_share:
            return self._need_relative(rng, need_tokens, where), None
        if self.budget_tokens_choices is not None:
            return rng.choice(self.budget_tokens_choices), None
        low, high = self.budget_tokens_min, self.budget_tokens_max
        return min(high, int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))), None

    def _need_relative(self, rng: random.Random, need_tokens, where: str) -> int:
        if isinstance(need_tokens, bool) or not isinstance(need_tokens, (int, float)) or not need_tokens > 0:
            raise UsageError(
                f"{where}: dial.need_relative_share draws budgets relative to min_reasoning_tokens, which this "
                f"row does not give as a positive number (got {need_tokens!r}): add the column or set the "
                "share to 0"
            )
        factor = math.exp(rng.uniform(math.log(self.need_factor_min), math.log(self.need_factor_max)))
        return max(1, round(need_tokens * factor))


def _required_budget(value, where: str) -> int:
    budget = parse_budget(value, where)
    if budget is None:
        raise UsageError(f"{where}: a budget in reasoning tokens is required, got {value!r}")
    return budget


def dial_config(raw) -> DialConfig | None:
    """Return the DialConfig of a data config's `dial:` value (a mapping, a DialConfig or None); unknown
    keys raise a UsageError naming them."""
    if raw is None or isinstance(raw, DialConfig):
        return raw
    if not isinstance(raw, dict):
        raise UsageError(f"data config: dial must be a mapping of keys, got {raw!r}")
    known = {f.name for f in fields(DialConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"data config: dial: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    return DialConfig(**raw)


def fill_effort_budget(row: dict, dial: DialConfig | None, where: str) -> None:
    """Give a row that has an effort but no budget its tier's budget (`dial.effort_budgets`), in place;
    raise a one-line UsageError starting with `where` when the tier is not set."""
    effort = row.get("effort")
    if effort is None or row.get("budget") is not None:
        return
    tiers = (dial.effort_budgets if dial else None) or {}
    if effort not in tiers:
        raise UsageError(
            f"{where}: effort {effort!r} has no budget: give the row a `budget` or set the tier in "
            f"the data config (dial: {{effort_budgets: {{{effort}: N}}}})"
        )
    row["budget"] = tiers[effort]


def apply_dial(
    rows: list[dict], dial: DialConfig | None, seeds: list[str] | None, places: list[str] | None = None
) -> None:
    """Render the control text of each row's budget / effort into its prompt, in place.

    Rows keep their own budget / effort (file columns); with `seeds` (one seed string per row: the
    train split) the others draw them from `dial`, an error naming the row by its entry in `places`
    (else `train row N`, from 1). When no row has a budget or an effort and there is no `dial`, rows are
    left exactly as they are (no new keys).
    """
    if dial is None and not any(r.get("budget") is not None or r.get("effort") is not None for r in rows):
        return
    for i, row in enumerate(rows):
        budget, effort = row.get("budget"), row.get("effort")
        if seeds is not None and budget is None and effort is None:
            where = places[i] if places else f"train row {i + 1}"
            budget, effort = dial.draw(seeds[i], row.get("min_reasoning_tokens"), where)
        row["budget"], row["effort"] = budget, effort
        row["prompt"] = control_prompt(row["prompt"], budget, effort)


def _jinja_text(fmt: str, value: str) -> str:
    """Return the Jinja expression of format string `fmt` (one `{}`) with `value` (a Jinja expression)."""
    head, tail = fmt.split("{}")
    return f"{json.dumps(head)} ~ {value} ~ {json.dumps(tail)}"


_JINJA_ARGS = (
    "{%- set dial_effort = reasoning_effort if reasoning_effort is defined and reasoning_effort is not none "
    "else none -%}"
    "{%- set dial_budget = thinking_budget if thinking_budget is defined and thinking_budget is not none "
    "else none -%}"
    f"{{%- if dial_effort is not none and dial_effort not in {json.dumps(list(EFFORTS))} -%}}"
    f"{{{{ raise_exception('reasoning_effort must be one of {', '.join(EFFORTS)}') }}}}{{%- endif -%}}"
    "{%- if dial_budget is not none and not (dial_budget is integer and dial_budget >= 0) -%}"
    "{{ raise_exception('thinking_budget must be a whole number of reasoning tokens >= 0') }}{%- endif -%}"
)

_JINJA_PLAIN = (
    "{%- if dial_effort is not none or dial_budget is not none -%}"
    f"{{%- set dial_prefix = ({_jinja_text(PLAIN_EFFORT, 'dial_effort')}) if dial_effort is not none "
    f"else ({_jinja_text(PLAIN_BUDGET, 'dial_budget')}) -%}}"
    "{%- if messages and not messages[0]['content'].startswith(dial_prefix) -%}"
    "{%- set messages = [dict(messages[0], content=dial_prefix ~ messages[0]['content'])] + messages[1:] -%}"
    "{%- endif -%}{%- endif -%}"
)

_JINJA_CHAT = (
    "{%- if dial_effort is not none -%}"
    f"{{%- set dial_line = {_jinja_text(CHAT_EFFORT, 'dial_effort')} -%}}"
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{%- set messages = [{'role': 'system', 'content': dial_line}] + messages -%}"
    "{%- elif not messages[0]['content'].endswith(dial_line) -%}"
    f"{{%- set messages = [dict(messages[0], content=messages[0]['content'] ~ {json.dumps(CHAT_SEPARATOR)} "
    "~ dial_line)] + messages[1:] -%}"
    "{%- endif -%}"
    "{%- elif dial_budget is not none -%}"
    f"{{%- set dial_suffix = {_jinja_text(CHAT_BUDGET, 'dial_budget')} -%}}"
    "{%- set dial_ns = namespace(last=-1, messages=[]) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set dial_ns.last = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if dial_ns.last < 0 -%}{{ raise_exception('thinking_budget: the chat has no user message to carry it') }}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if loop.index0 == dial_ns.last and not m['content'].endswith(dial_suffix) -%}"
    "{%- set dial_ns.messages = dial_ns.messages + [dict(m, content=m['content'] ~ dial_suffix)] -%}"
    "{%- else -%}{%- set dial_ns.messages = dial_ns.messages + [m] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set messages = dial_ns.messages -%}"
    "{%- endif -%}"
)


def dial_chat_template(template: str | None, prompt_format: str) -> str | None:
    """Return chat `template` preceded by the dial's Jinja: `thinking_budget` / `reasoning_effort` keyword
    arguments rewrite the messages exactly as `control_prompt` does for `prompt_format` ('plain': the
    prefix on the first message; 'chat': system line / user suffix). Without them it renders as before.
    None stays None; a template that has the dial already is returned unchanged."""
    if prompt_format not in ("plain", "chat"):
        raise ValueError(f"prompt_format must be 'plain' or 'chat', got {prompt_format!r}")
    if template is None or TEMPLATE_MARKER in template:
        return template
    body = _JINJA_PLAIN if prompt_format == "plain" else _JINJA_CHAT
    note = (
        f"{TEMPLATE_MARKER} thinking_budget (reasoning tokens) and reasoning_effort ({'|'.join(EFFORTS)}) "
        f"render the trained control text ({prompt_format} prompts), see thinkdial.data.dial -#}}"
    )
    return note + _JINJA_ARGS + body + template


_PLAIN_CONTROL = re.compile(r"^\[(?:think<=(\d+)|effort=(low|medium|high))\] ")
_CHAT_BUDGET = re.compile(r"\n\nThink for maximum (\d+) tokens\.$")
_CHAT_EFFORT = re.compile(r"(?:^|\n\n)Reasoning: (low|medium|high)$")


def requested_budget(prompt, effort_budgets: dict[str, int] | None = None) -> int | None:
    """Return the thinking budget, in reasoning tokens, that `prompt`'s control text asks for (an effort
    level through its tier in `effort_budgets`), or None when it carries none (or an effort without a tier)."""
    if isinstance(prompt, str):
        match = _PLAIN_CONTROL.match(prompt)
        budget, effort = (match.group(1), match.group(2)) if match else (None, None)
    else:
        users = [m["content"] for m in prompt if m["role"] == "user" and isinstance(m["content"], str)]
        systems = [m["content"] for m in prompt if m["role"] == "system" and isinstance(m["content"], str)]
        budget_match = _CHAT_BUDGET.search(users[-1]) if users else None
        effort_match = _CHAT_EFFORT.search(systems[0]) if systems else None
        budget = budget_match.group(1) if budget_match else None
        effort = effort_match.group(1) if effort_match else None
    if effort is not None:
        return (effort_budgets or {}).get(effort)
    return None if budget is None else int(budget)
