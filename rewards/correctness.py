"""Answer checking: exact / numeric match for short answers, math_verify for LaTeX math answers."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?$")
_BOXED = re.compile(r"\\boxed\{")


def _normalize(text: str) -> str:
    return text.strip().strip("$").strip().rstrip(".").replace(",", "") if text else ""


def _as_number(text: str) -> float | None:
    t = _normalize(text)
    if not t or not _NUMBER.match(t):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def _needs_math_verify(gold: str, pred: str) -> bool:
    return bool(_BOXED.search(pred)) or any(c in gold for c in "\\^{}/") or any(c in pred for c in "\\^{}")


def is_correct(pred: str | None, gold: str) -> bool | None:
    """Return whether answer `pred` matches `gold`; None when `gold` cannot be parsed.

    Exact match after trimming, then numeric equality (`1,000` == `1000.0`), then math_verify for
    LaTeX answers (`\\boxed{}`, fractions). An unparseable prediction (None: no closed think block)
    is wrong.
    """
    if gold is None or not str(gold).strip():
        return None
    gold = str(gold)
    if pred is None:
        return False
    if _normalize(pred) == _normalize(gold):
        return True
    g_num, p_num = _as_number(gold), _as_number(pred)
    if g_num is not None and p_num is not None:
        return abs(g_num - p_num) <= 1e-6 * max(1.0, abs(g_num))
    if not _needs_math_verify(gold, pred):
        return False
    from math_verify import parse, verify

    try:
        gold_parsed = parse(f"${gold}$") or parse(gold)
        if not gold_parsed:
            return None
        return bool(verify(gold_parsed, parse(pred)))
    except Exception:  # math_verify raises on pathological LaTeX; such a prediction is simply not a match
        return False
