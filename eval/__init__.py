"""thinkdial eval package."""
