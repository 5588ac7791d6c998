"""thinkdial data package."""
