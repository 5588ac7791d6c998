"""The base layer's I/O helpers (thinkdial/io.py) and the stages that use them."""

from __future__ import annotations

import pytest
from thinkdial.data.config import load_data_config
from thinkdial.eval.config import load_eval_config
from thinkdial.rewards.config import load_reward_config

CONFIG_LOADERS = {"data config": load_data_config, "reward config": load_reward_config,
                  "eval config": load_eval_config}


@pytest.mark.parametrize("what", sorted(CONFIG_LOADERS))
def test_every_config_reader_names_the_file_of_a_bad_yaml(tmp_path, what):
    load = CONFIG_LOADERS[what]
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("source: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{what} .*latin1\.yaml: not UTF-8 text"):
        load(latin1)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match=rf"^{what} .*broken\.yaml: invalid YAML at line"):
        load(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match=r"list\.yaml"):
        load(listing)
    with pytest.raises(FileNotFoundError, match=rf"{what} not found: .*none\.yaml"):
        load(tmp_path / "none.yaml")
