# thinkdial: `make demo` runs the pipeline end to end on the embedded default; `make test` runs the suite;
# `make lint` checks formatting (ruff format) and lint rules (ruff check); `make check-recipes` runs every recipe
# under configs/ for a few steps on a tiny random model of its architecture (docs/launching.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SEEDS ?= 0 1
RUN ?= runs/demo

.PHONY: install demo test test-fast lint check-recipes train reproduce eval export clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(PY) -m thinkdial demo --out $(RUN) --seeds $(SEEDS)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

check-recipes: install
	$(PY) -m thinkdial check --all --shape tiny --out runs/check-recipes

# make train RECIPE=configs/qwen2.5-math-1.5b/grpo_adaptive.yaml ACCEL=configs/accelerate/zero2.yaml NPROC=8
# Without ACCEL: one process. NPROC overrides the accelerate config's num_processes; ARGS="--key value ..."
# overrides recipe keys; STAGE=sft trains the SFT warm start instead of GRPO.
RECIPE ?= configs/tiny/grpo.yaml
STAGE ?= grpo
ACCEL ?=
NPROC ?=
ARGS ?=

train: install
ifeq ($(ACCEL),)
	$(VENV)/bin/thinkdial $(STAGE) --config $(RECIPE) $(ARGS)
else
	$(VENV)/bin/accelerate launch --config_file $(ACCEL) $(if $(NPROC),--num_processes $(NPROC)) \
		-m thinkdial $(STAGE) --config $(RECIPE) $(ARGS)
endif

# make reproduce METHOD=dler [ACCEL=configs/accelerate/zero2.yaml NPROC=8] [DRY_RUN=1]: train a published method's
# recipes (configs/methods/METHOD/), evaluate with the papers' protocol beside the base model, and write the
# measured row beside the published one (docs/reproduce.md). DRY_RUN=1 prints the commands and runs nothing.
METHOD ?=
DRY_RUN ?=

reproduce: install
	$(VENV)/bin/thinkdial reproduce --method $(METHOD) $(if $(ACCEL),--accelerate-config $(ACCEL)) \
		$(if $(NPROC),--num-processes $(NPROC)) $(if $(DRY_RUN),--dry-run)

# make export CHECKPOINT=runs/demo/grpo-seed0 OUT=runs/demo/export [HUB=user/repo] [FORCE=1: replace an existing export]
CHECKPOINT ?= $(RUN)/grpo-seed0
OUT ?= $(RUN)/export
HUB ?=
FORCE ?=

export: install
	$(VENV)/bin/thinkdial export --checkpoint $(CHECKPOINT) --out $(OUT) $(if $(FORCE),--force) $(if $(HUB),--push-to-hub $(HUB))

clean:
	rm -rf runs
