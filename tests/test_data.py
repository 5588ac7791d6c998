"""data/: synthetic families, splits, real-set adapters, file sources and their errors."""

import json
import re

import pytest
from conftest import ROOT

from thinkdial.cli import main
from thinkdial.data.completion import parse_completion
from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.data.synthetic import FAMILIES, PERMUTATIONS, STYLES, make_problem, render_reasoning
from thinkdial.errors import UsageError
from thinkdial.io import prompt_hash, write_jsonl

FIXTURES = ROOT / "tests" / "fixtures"  # 40-row slices of GSM8K and MATH-500 (tests/fixtures/README.md)
DATA_CONFIGS = ROOT / "configs" / "data"
ROW_KEYS = {"prompt", "answer", "difficulty", "source"}


def synth(source="permchain", **kw):
    return load_data_config({"source": source, "train_rows": 2000, "test_rows_per_level": 30, **kw})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_rows_follow_schema_and_traces_are_exact(family):
    cfg = synth(family, reasoning_styles={s: 1.0 for s in STYLES})
    for row in build_rows(cfg, "train")[:400]:
        assert ROW_KEYS <= set(row)
        assert isinstance(row["difficulty"], int) and 1 <= row["difficulty"] <= 8
        assert row["min_reasoning_tokens"] == row["difficulty"]
        assert row["answer"] in "0123456789" and len(row["answer"]) == 1
    for row in build_rows(cfg, "test"):
        # the canonical (minimal) trace has exactly min_reasoning_tokens digits and ends on the answer
        assert len(row["reasoning"]) == row["min_reasoning_tokens"]
        assert row["reasoning"][-1] == row["answer"]


def test_permchain_values_follow_the_world_permutations():
    import random

    p = make_problem("permchain", random.Random(0), 5)
    start, ops = int(p.prompt[0]), p.prompt[2 : 2 + 5]
    v = start
    for op, got in zip(ops, p.values, strict=True):
        v = PERMUTATIONS[op][v]
        assert v == got
    assert p.prompt[2 + 5 : -1].islower() and len(p.prompt) == len("5:") + 8 + 1


def test_reasoning_styles_have_documented_lengths():
    import random

    p = make_problem("permchain", random.Random(1), 3)
    lengths = {s: len(render_reasoning(p, s)) for s in STYLES}
    assert lengths == {"direct": 0, "minimal": 3, "verbose": 12, "recheck": 16, "giveup": 1, "lastdirect": 2}


def test_deterministic_for_a_seed_and_different_across_seeds():
    assert build_rows(synth(seed=1), "train") == build_rows(synth(seed=1), "train")
    assert build_rows(synth(seed=1), "test") == build_rows(synth(seed=1), "test")
    assert build_rows(synth(seed=1), "train") != build_rows(synth(seed=2), "train")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_train_and_test_never_share_a_problem(family):
    cfg = synth(family, train_rows=20000)
    train = {prompt_hash(r["prompt"]) for r in build_rows(cfg, "train")}
    test = [prompt_hash(r["prompt"]) for r in build_rows(cfg, "test")]
    assert not train & set(test)
    assert len(test) == len(set(test)) == 8 * 30  # unique, every level filled


def test_style_mixture_is_independent_of_level():
    cfg = synth(train_rows=8000, reasoning_styles={"direct": 0.5, "verbose": 0.5})
    rows = build_rows(cfg, "train")
    for level in (1, 8):
        at = [r for r in rows if r["difficulty"] == level]
        share = sum(r["reasoning"] == "" for r in at) / len(at)
        assert 0.4 < share < 0.6


def test_level_weights_shape_the_train_split():
    rows = build_rows(synth(train_rows=4000, level_weights=[7, 1, 1, 1, 0, 0, 0, 0]), "train")
    share1 = sum(r["difficulty"] == 1 for r in rows) / len(rows)
    assert 0.6 < share1 < 0.8 and not any(r["difficulty"] > 4 for r in rows)


def file_cfg(path, **kw):
    return load_data_config(
        {"source": "jsonl", "path": str(path), "columns": {"prompt": "q", "difficulty": "lvl"}, **kw}
    )


def test_jsonl_source_with_column_mapping(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl", [{"q": "1+1?", "answer": 2, "lvl": 1}, {"q": "2+3?", "answer": 5, "lvl": "3"}]
    )
    rows = build_rows(file_cfg(f), "train")
    assert [(r["prompt"], r["answer"], r["difficulty"]) for r in rows] == [("1+1?", "2", 1), ("2+3?", "5", 3)]


def test_parquet_and_csv_sources(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list([{"q": "a", "answer": "1", "lvl": 2}])
    ds.to_parquet(str(tmp_path / "d.parquet"))
    ds.to_csv(str(tmp_path / "d.csv"))
    for kind in ("parquet", "csv"):
        rows = build_rows(file_cfg(tmp_path / f"d.{kind}", source=kind), "train")
        assert rows[0]["difficulty"] == 2 and rows[0]["answer"] == "1"


def test_missing_column_names_file_and_column(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"q": "x", "lvl": 1}])
    with pytest.raises(ValueError, match=r"d\.jsonl.*missing column.*'answer'"):
        build_rows(file_cfg(f), "train")


def test_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"e\.jsonl.*empty"):
        build_rows(file_cfg(tmp_path / "e.jsonl"), "train")


@pytest.mark.parametrize(
    "content, message",
    [
        (
            b'{"q": "x", "answer": 1, "lvl": 1}\n{"q": "caf\xe9", "answer": 1, "lvl": 1}\n',
            r"bad\.jsonl:2: not UTF-8 text \(byte 0xe9 at column 11\); re-save the file as UTF-8",
        ),
        (
            b'{"q": "x", "answer": 1, "lvl": 1}\n{"q": "y", "ans',
            r"bad\.jsonl:2: invalid JSON: Unterminated string starting at: column 12 \(the file ends mid-line: truncated\?\)",
        ),
        (
            b'{"q": "x", "answer": 1, "lvl": 1}\n{"q": "y" "answer": 2}\n\n',
            r"bad\.jsonl:2: invalid JSON: Expecting ',' delimiter: column 11$",
        ),
        (
            b'{"q": "x", "answer": 1, "lvl": 1}\n["q", "answer"]\n',
            r"bad\.jsonl:2: expected a JSON object, got list",
        ),
    ],
)
def test_a_bad_jsonl_file_names_the_file_the_line_and_the_cause(tmp_path, content, message):
    (tmp_path / "bad.jsonl").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        build_rows(file_cfg(tmp_path / "bad.jsonl"), "train")


def test_a_bad_gsm8k_file_and_a_non_utf8_csv_name_the_file_and_the_cause(tmp_path):
    (tmp_path / "test.jsonl").write_bytes(
        b'{"question": "q", "answer": "1\\n#### 1"}\n{"question": "q2", "ans'
    )
    with pytest.raises(ValueError, match=r"test\.jsonl:2: invalid JSON.*truncated"):
        build_rows(load_data_config({"source": "gsm8k", "path": str(tmp_path)}), "test")
    (tmp_path / "d.csv").write_bytes(b"q,answer,lvl\ncaf\xe9,1,2\n")
    with pytest.raises(ValueError, match=r"d\.csv: cannot read as csv: .*UTF8"):
        build_rows(file_cfg(tmp_path / "d.csv", source="csv"), "train")


def test_jsonl_rows_may_each_carry_a_different_subset_of_columns(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl",
        [{"q": "x", "answer": 1, "lvl": 1}, {"q": "y", "answer": 2, "lvl": 2, "reasoning": "r"}],
    )
    rows = build_rows(file_cfg(f), "train")
    assert [r.get("reasoning") for r in rows] == [None, "r"]


def test_non_integer_level_names_file_row_and_column(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl", [{"q": "x", "answer": 1, "lvl": 1}, {"q": "y", "answer": 2, "lvl": "hard"}]
    )
    with pytest.raises(ValueError, match=r"d\.jsonl:2: column 'lvl'"):
        build_rows(file_cfg(f), "train")
    f2 = write_jsonl(tmp_path / "e.jsonl", [{"q": "x", "answer": 1, "lvl": 2.5}])
    with pytest.raises(ValueError, match=r"e\.jsonl:1: column 'lvl'"):
        build_rows(file_cfg(f2), "train")


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"q": 123}, "column 'q': prompt must be non-empty text or chat messages, got 123"),
        ({"q": [{"role": "user"}]}, "column 'q': prompt must be non-empty text or chat messages, got [{"),
        ({"reasoning": 7}, "column 'reasoning': reasoning must be text, got 7"),
        (
            {"min_reasoning_tokens": "x"},
            "column 'min_reasoning_tokens': min_reasoning_tokens must be a number",
        ),
    ],
)
def test_a_row_of_the_wrong_type_stops_data_naming_the_file_line_and_column(tmp_path, capsys, bad, message):
    # the third row sits on line 4: a blank line precedes it, and errors name the file's line
    good = {"q": "1+1?", "answer": 2, "lvl": 1, "reasoning": "2", "min_reasoning_tokens": 1}
    lines = [json.dumps(good), json.dumps(good), "", json.dumps({**good, **bad})]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    config = tmp_path / "data.yaml"
    columns = {"prompt": "q", "difficulty": "lvl"}
    config.write_text(json.dumps({"source": "jsonl", "path": "d.jsonl", "columns": columns}))
    assert main(["data", "--config", str(config), "--stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"thinkdial data: error: {tmp_path / 'd.jsonl'}:4: {message}"), err
    assert err.count("\n") == 1


def test_table_rows_are_named_by_their_row_number_from_1(tmp_path):
    import datasets

    rows = [{"q": "a", "answer": "1", "lvl": 2}, {"q": "b", "answer": "2", "lvl": 0}]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    message = r"d\.parquet: row 2: column 'lvl': difficulty must be an integer >= 1"
    with pytest.raises(UsageError, match=message):
        build_rows(file_cfg(tmp_path / "d.parquet", source="parquet"), "train")


def test_missing_file_and_bad_config_keys(tmp_path):
    with pytest.raises(UsageError, match="data file not found"):
        build_rows(file_cfg(tmp_path / "nope.jsonl"), "train")
    with pytest.raises(ValueError, match="unknown key"):
        load_data_config({"source": "permchain", "levles": [1]})
    with pytest.raises(ValueError, match="unknown source"):
        load_data_config({"source": "nope"})
    with pytest.raises(ValueError, match="levels"):
        load_data_config({"source": "permchain", "levels": [0, 9]})


def test_data_cli_writes_rows_and_stats(tmp_path, capsys):
    from thinkdial.cli import main

    cfg = tmp_path / "d.yaml"
    cfg.write_text("source: permchain\ntest_rows_per_level: 5\n")
    out = tmp_path / "rows.jsonl"
    assert main(["data", "--config", str(cfg), "--split", "test", "--out", str(out), "--stats"]) == 0
    rows = [json.loads(line) for line in out.open()]
    assert len(rows) == 40
    printed = capsys.readouterr().out
    assert "min_reasoning_tokens_mean" in printed and "8.00" in printed


def test_parse_completion_rules():
    assert parse_completion("<think>ab</think> 7 ") == parse_completion("<think>ab</think>7")
    p = parse_completion("<think>ab")
    assert p.answer is None and p.reasoning == "ab" and not p.closed
    assert parse_completion("no tags").reasoning == "no tags"
    q = parse_completion("reasoning</think>5")  # the prompt opened the think block (R1-style)
    assert q.reasoning == "reasoning" and q.answer == "5"
    r = parse_completion("reasoning</think>5 <think>x")  # an opening tag in the answer opens nothing
    assert (r.reasoning, r.answer, r.closed) == ("reasoning", "5 <think>x", True)


CANONICAL = [
    {"prompt": "3+4=", "answer": "7", "difficulty": 2, "reasoning": "3 4 7", "min_reasoning_tokens": 5},
    {"prompt": "1+1=", "answer": "2", "difficulty": 1, "reasoning": "2", "min_reasoning_tokens": 1},
]


def test_a_file_whose_columns_carry_the_row_names_is_read_as_such(tmp_path, capsys):
    f = write_jsonl(tmp_path / "own.jsonl", CANONICAL)
    rows = build_rows(load_data_config({"source": "jsonl", "path": str(f)}), "train")
    assert [(r["difficulty"], r["reasoning"], r["min_reasoning_tokens"]) for r in rows] == [
        (2, "3 4 7", 5),
        (1, "2", 1),
    ]
    assert "warning" not in capsys.readouterr().err


def test_columns_only_rename_and_canonical_names_still_apply(tmp_path):
    f = write_jsonl(tmp_path / "own.jsonl", [{**r, "lvl": r["difficulty"] + 1} for r in CANONICAL])
    rows = build_rows(
        load_data_config({"source": "jsonl", "path": str(f), "columns": {"difficulty": "lvl"}}), "train"
    )
    assert [r["difficulty"] for r in rows] == [3, 2] and rows[0]["reasoning"] == "3 4 7"


def test_a_source_without_difficulty_warns_on_stderr_and_stats_say_so(tmp_path, capsys):
    from thinkdial.cli import main

    f = write_jsonl(
        tmp_path / "own.jsonl", [{k: v for k, v in r.items() if k != "difficulty"} for r in CANONICAL]
    )
    cfg = tmp_path / "d.yaml"
    cfg.write_text(f"source: jsonl\npath: {f}\n")
    assert main(["data", "--config", str(cfg), "--stats"]) == 0
    out, err = capsys.readouterr()
    assert "no difficulty column" in err and "level 1" in err
    assert "no difficulty column" in out


def test_file_sources_mix_reasoning_styles_per_row_for_sft(tmp_path):
    f = write_jsonl(tmp_path / "own.jsonl", CANONICAL * 200)
    cfg = load_data_config(
        {"source": "jsonl", "path": str(f), "reasoning_styles": {"given": 0.7, "direct": 0.3}}
    )
    rows = build_rows(cfg, "train")
    direct = sum(r["reasoning"] == "" for r in rows) / len(rows)
    assert 0.22 < direct < 0.38 and {r["reasoning_style"] for r in rows} == {"given", "direct"}
    assert all(r["reasoning"] in ("", "3 4 7", "2") for r in rows)
    with pytest.raises(ValueError, match="reasoning_styles"):
        load_data_config({"source": "jsonl", "path": str(f), "reasoning_styles": {"verbose": 1.0}})


def test_per_level_style_mixtures_and_the_giveup_style_guess_halfway():
    cfg = synth(
        train_rows=4000, reasoning_styles={"verbose": 1.0}, reasoning_styles_by_level={8: {"giveup": 1.0}}
    )
    rows = build_rows(cfg, "train")
    assert {r["reasoning_style"] for r in rows if r["difficulty"] < 8} == {"verbose"}
    hard = [r for r in rows if r["difficulty"] == 8]
    assert {r["reasoning_style"] for r in hard} == {"giveup"} and all(len(r["reasoning"]) == 4 for r in hard)
    guessed_right = sum(r.get("target_answer", r["answer"]) == r["answer"] for r in hard) / len(hard)
    assert 0.03 < guessed_right < 0.2  # a uniform guess over 10 digits


@pytest.fixture
def data_dir(monkeypatch):
    """Point THINKDIAL_DATA_DIR at the fixtures: the shipped GSM8K / MATH-500 configs read them."""
    monkeypatch.setenv("THINKDIAL_DATA_DIR", str(FIXTURES))
    return FIXTURES


def fixture_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).open()]


def test_gsm8k_rows_load_with_step_count_difficulty(data_dir):
    cfg = load_data_config(DATA_CONFIGS / "gsm8k.yaml")
    assert cfg.path == str(FIXTURES / "gsm8k")
    rows = build_rows(cfg, "test")
    assert len(rows) == len(fixture_rows("gsm8k/test.jsonl")) == 40
    first = rows[0]
    assert first["answer"] == "18" and first["difficulty"] == 2  # two solution lines before ####
    assert "<<" not in first["reasoning"] and first["prompt"][-1]["content"].startswith("Janet")
    assert len(build_rows(cfg, "train")) == 40


def test_math500_rows_load_with_level_difficulty_and_chat_prompts(data_dir):
    rows = build_rows(load_data_config(DATA_CONFIGS / "math500.yaml"), "test")
    raw = fixture_rows("math500/test.jsonl")
    assert [r["difficulty"] for r in rows] == [r["level"] for r in raw] and {r["level"] for r in raw} == {
        1,
        2,
        3,
        4,
        5,
    }
    assert rows[0]["prompt"][0]["role"] == "system" and rows[0]["prompt"][1]["content"] == raw[0]["problem"]
    assert [r["answer"] for r in rows] == [r["answer"] for r in raw]


def test_sft_targets_from_gsm8k_worked_solutions(tmp_path, data_dir):
    from thinkdial.data.config import load_data_config
    from thinkdial.train.sft import ThinkdialSFTConfig, sft_dataset

    config = ThinkdialSFTConfig(
        output_dir=str(tmp_path / "out"),
        data_config=str(DATA_CONFIGS / "gsm8k.yaml"),
        train_limit=5,
        bf16=False,
        report_to="none",
    )
    ds, validation = sft_dataset(config, load_data_config(config.data_config))
    assert len(ds) == 5 and validation == [] and ds[0]["prompt"][-1]["role"] == "user"
    parsed = parse_completion(ds[0]["completion"])
    assert parsed.closed and parsed.answer == "72" and "Natalia" in parsed.reasoning


class FakeHub:
    """Stands in for `datasets.load_dataset` (no network here): serves fixture files, records each call."""

    FILES = {("openai/gsm8k", "main"): "gsm8k", ("HuggingFaceH4/MATH-500", None): "math500"}

    def __init__(self):
        self.calls = []

    def __call__(self, name, config=None, split=None):
        import datasets

        self.calls.append((name, config, split))
        return datasets.Dataset.from_list(fixture_rows(f"{self.FILES[(name, config)]}/{split}.jsonl"))


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr("datasets.load_dataset", fake)
    return fake


def test_the_shipped_real_data_configs_read_the_hub_by_default(monkeypatch, hub):
    monkeypatch.delenv("THINKDIAL_DATA_DIR", raising=False)
    gsm8k, math500 = (load_data_config(DATA_CONFIGS / f"{name}.yaml") for name in ("gsm8k", "math500"))
    assert (gsm8k.path, gsm8k.hub, gsm8k.hub_config) == (None, "openai/gsm8k", "main")
    assert (math500.path, math500.hub, math500.hub_config) == (None, "HuggingFaceH4/MATH-500", None)
    rows = build_rows(gsm8k, "train")
    assert rows[0]["answer"] == "72" and rows[0]["source"] == "gsm8k"
    assert build_rows(math500, "test")[0]["difficulty"] == fixture_rows("math500/test.jsonl")[0]["level"]
    assert hub.calls == [("openai/gsm8k", "main", "train"), ("HuggingFaceH4/MATH-500", None, "test")]
    with pytest.raises(ValueError, match="the math adapter has no 'train' split"):
        build_rows(math500, "train")


def test_a_local_copy_wins_over_the_hub_and_a_missing_one_is_an_error(tmp_path, monkeypatch, hub):
    monkeypatch.setenv("THINKDIAL_DATA_DIR", str(FIXTURES))
    assert len(build_rows(load_data_config(DATA_CONFIGS / "gsm8k.yaml"), "test")) == 40
    own = tmp_path / "mine"
    own.mkdir()
    (own / "test.jsonl").write_text((FIXTURES / "gsm8k/test.jsonl").read_text().splitlines()[0] + "\n")
    assert len(build_rows(load_data_config(DATA_CONFIGS / "gsm8k.yaml", path=str(own)), "test")) == 1
    monkeypatch.setenv(
        "THINKDIAL_DATA_DIR", str(tmp_path)
    )  # set, but holds no gsm8k/: no silent hub fallback
    with pytest.raises(UsageError, match=r"data file not found: .*gsm8k"):
        build_rows(load_data_config(DATA_CONFIGS / "gsm8k.yaml"), "test")
    assert hub.calls == []


def test_an_unreachable_hub_says_how_to_read_a_local_copy(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub")

    monkeypatch.delenv("THINKDIAL_DATA_DIR", raising=False)
    monkeypatch.setattr("datasets.load_dataset", offline)
    with pytest.raises(
        ValueError,
        match=r"openai/gsm8k: cannot load split 'test' from the Hugging Face hub "
        r"\(ConnectionError: Couldn't reach.*\); offline, point `path` at a local copy",
    ):
        build_rows(load_data_config(DATA_CONFIGS / "gsm8k.yaml"), "test")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"source": "hub", "path": "owner/name"}, "source 'hub' reads the dataset named by `hub`"),
        (
            {"source": "jsonl", "hub": "owner/name"},
            "source 'jsonl' reads the local file or folder named by `path`",
        ),
        ({"source": "gsm8k"}, "source 'gsm8k' needs `path` (a local file or folder) or `hub`"),
        (
            {"source": "gsm8k", "path": "${THINKDIAL_TEST_UNSET}/gsm8k"},
            "path '${THINKDIAL_TEST_UNSET}/gsm8k' names unset environment variable(s) THINKDIAL_TEST_UNSET",
        ),
    ],
)
def test_a_source_without_a_place_to_read_is_refused(monkeypatch, raw, message):
    monkeypatch.delenv("THINKDIAL_TEST_UNSET", raising=False)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_data_config(raw)


def test_pointerchain_follows_the_map_written_in_its_own_prompt():
    import random

    from thinkdial.data.synthetic import POINTER_KEYS

    for level in (1, 5, 8):
        p = make_problem("pointerchain", random.Random(level), level)
        table, rest = p.prompt.split(":")
        mapping = {POINTER_KEYS.index(table[i]): int(table[i + 1]) for i in range(0, len(table), 2)}
        assert sorted(mapping) == list(range(10)) and sorted(mapping.values()) == list(range(10))
        v = int(rest[0])
        for got in p.values:
            v = mapping[v]
            assert v == got
        assert rest[1:] == ">" * level + "." * (8 - level) + "="


def test_a_synthetic_row_with_a_budget_shows_a_chain_that_fits_it_or_a_direct_answer():
    cfg = synth(
        train_rows=3000,
        reasoning_styles={"verbose": 0.5, "minimal": 0.3, "direct": 0.2},
        reasoning_styles_by_level={8: {"giveup": 0.5, "minimal": 0.5}},
        dial={"budget_tokens_min": 1, "budget_tokens_max": 32, "no_budget_share": 0.5},
    )
    rows = [r for r in build_rows(cfg, "train") if r.get("budget") is not None]
    assert rows and all(len(r["reasoning"]) <= r["budget"] for r in rows)
    assert all(r["reasoning_style"] == "direct" for r in rows if r["difficulty"] > r["budget"] + 1)
    assert all(
        r["reasoning_style"] == "lastdirect" and len(r["reasoning"]) == r["budget"]  # the last step direct
        for r in rows
        if r["difficulty"] == r["budget"] + 1
    )
    assert all(
        r["reasoning_style"] != "direct" and r.get("target_answer") is None  # no guess where a chain fits
        for r in rows
        if r["difficulty"] <= r["budget"]
    )
    assert all(r["prompt"].startswith(f"[think<={r['budget']}] ") for r in rows)
