"""thinkdial train package."""
