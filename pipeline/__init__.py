"""thinkdial pipeline: the layer above train and eval that runs whole jobs (the demo, its gates)."""
