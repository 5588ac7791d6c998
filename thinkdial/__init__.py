"""thinkdial: teach language models when to think longer (length-aware GRPO on TRL, with a scaling eval).

The installed namespace maps the repository's top-level folders: `thinkdial.data` (data/),
`thinkdial.rewards` (rewards/), `thinkdial.eval` (eval/), `thinkdial.train` (train/) and
`thinkdial.pipeline` (pipeline/: whole jobs such as the demo, above train and eval). This package
itself holds the command line (`cli`) and the base layer every stage may use. Importing it loads
no torch, TRL or transformers.
"""

__version__ = "0.2.0"
