"""Helpers shared by the test files (import them with `from conftest import ...`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root: recipes and configs are relative to it
