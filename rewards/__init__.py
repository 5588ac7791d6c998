"""thinkdial rewards package."""
