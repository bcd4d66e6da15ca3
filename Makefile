# polymix — the commands users type. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.polymix-installed
OUT    ?=
SOURCE ?= shapes
LIMIT  ?=
IN     ?= out/demo.english
LANGS  ?= all
MODEL  ?=
DEMO_OUT := out/demo

.PHONY: help install demo demo-train toy-model prepare translate build-mix server deploy train eval lid-calibrate lid-check card publish bench-translate bench-lid bench-flow gpu-pack test test-fast test-faults langs clean
DEV ?= ../shared/data/udhr-lid-dev.jsonl
CONFIG ?= training/configs/mblip-mt0-xl.yaml
DATA   ?= out/demo
GPUS   ?= 1
ARGS   ?=

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
PREFECT_PORT ?= 4200
PREFECT_URL  := http://127.0.0.1:$(PREFECT_PORT)/api
DEPLOYMENT   ?= default

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with torch (CPU or CUDA build) and polymix in editable mode

$(STAMP): pyproject.toml scripts/install-torch.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	scripts/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

demo: install ## the whole pipeline on the embedded `shapes` sample: out/demo (7 languages, filtered, data card)
	$(BIN)/polymix build-mix --deployment default --out $(DEMO_OUT)
	$(BIN)/polymix inspect $(DEMO_OUT) --samples 8

DEMO_TRAIN   ?= out/demo-train
DEMO_SCENES  ?= 1000
DEMO_MODELS  ?= out/demo-models
DEMO_RUN     ?= out/train/demo
DEMO_SEED    ?= 0
demo-train: install ## train the demo preset on CPU, offline (shapes in 8 languages, about 13 min on 2 cores) and print what it learned per language
	$(BIN)/polymix build-mix --deployment default --out $(DEMO_TRAIN) --set 'sources=[{name: shapes, options: {count: $(DEMO_SCENES)}}]'
	OMP_NUM_THREADS=1 $(BIN)/python -m polymix.training.demo --data $(DEMO_TRAIN) --out $(DEMO_MODELS) --seed $(DEMO_SEED)
	rm -rf $(DEMO_RUN)
	OMP_NUM_THREADS=1 $(BIN)/polymix train --config demo --data $(DEMO_TRAIN) --output-dir $(DEMO_RUN) --set train.seed=$(DEMO_SEED) $(ARGS)
	$(BIN)/polymix train export --checkpoint $$(ls -d $(DEMO_RUN)/checkpoints/step-* | tail -1) --out $(DEMO_RUN)/export
	$(BIN)/python -m polymix.training.demo_report --run $(DEMO_RUN) --export $(DEMO_RUN)/export --data $(DEMO_TRAIN)

toy-model: install ## rebuild the offline toy translation model (translate/toy/model) from seed 0
	$(BIN)/python -m polymix.translate.toy.train --out translate/toy/model --seed 0

prepare: install ## English source -> templated English shards (SOURCE=shapes OUT=out/demo)
	$(BIN)/polymix prepare --source $(SOURCE) --out $(or $(OUT),out/demo) $(if $(LIMIT),--limit $(LIMIT),)

translate: install ## translate an English mix (IN=out/demo OUT=out/translated LANGS=all MODEL=hub-id-or-folder, default: the one `polymix translate --help` names)
	$(BIN)/polymix translate --in $(IN) --out $(or $(OUT),out/translated) --langs $(LANGS) $(if $(MODEL),--model $(MODEL),)

langs: install ## print the 95 target languages (+ English) with codes and mC4 shares
	$(BIN)/polymix langs

build-mix: install ## run the build-mix flow without a server (DEPLOYMENT=default: prefect.yaml's parameters)
	$(BIN)/polymix build-mix --deployment $(DEPLOYMENT) $(if $(OUT),--out $(OUT),)

server: install ## start a local Prefect server on 127.0.0.1:4200 (PREFECT_PORT; embedded SQLite; UI in the browser)
	PREFECT_UI_API_URL=$(PREFECT_URL) $(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

deploy: install ## register prefect.yaml's deployments and execute their runs (needs `make server`; your Prefect profile is left as it is)
	@echo "serving polymix's deployments on $(PREFECT_URL); in another terminal: export PREFECT_API_URL=$(PREFECT_URL)"
	POLYMIX_HOME=$(CURDIR) PREFECT_API_URL=$(PREFECT_URL) $(BIN)/python -m polymix.flows.serve

train: install ## train on a mix (CONFIG=training/configs/tiny.yaml DATA=out/demo GPUS=1 ARGS="--resume")
ifeq ($(GPUS),1)
	$(BIN)/polymix train --config $(CONFIG) --data $(DATA) $(ARGS)
else
	$(BIN)/torchrun --nproc_per_node $(GPUS) -m polymix.training --config $(CONFIG) --data $(DATA) $(ARGS)
endif

BENCH  ?= mix
IMAGES ?=
EVAL_MODEL ?= out/train/tiny
eval: install ## score a model on mBLIP's benchmarks (BENCH=xm3600|xgqa|maxm|xvnli|marvl|mix DATA=... IMAGES=... EVAL_MODEL=run/checkpoint/export ARGS=...)
	$(BIN)/polymix eval --benchmark $(BENCH) --data $(DATA) $(if $(IMAGES),--images $(IMAGES),) --model $(EVAL_MODEL) $(ARGS)

lid-calibrate: install ## calibrate the language-ID filter on the UDHR dev file (DEV=...) and data/lid-dev; rewrites translate/lid/settings.yaml
	$(BIN)/polymix lid-calibrate --dev $(DEV) --pairs-per-target 1500 --write

lid-check: install ## language-check a JSONL/Parquet file (FILE=rows.jsonl OUT=checked.parquet TEXT=text LANG_FIELD=lang)
	$(BIN)/polymix lid-check --input $(FILE) --output $(OUT) --text-field $(or $(TEXT),text) --lang-field $(or $(LANG_FIELD),lang)

card: install ## (re)write a mix's data card README.md + rows_per_language.png (IN=out/mix)
	$(BIN)/polymix card $(IN)

publish: install ## upload a mix to the Hugging Face Hub (IN=out/mix REPO=user/name ARGS=--dry-run)
	$(BIN)/polymix publish $(IN) --repo-id $(REPO) $(ARGS)

bench-translate: install ## translation sentences/s, polymix vs transformers generate (mBLIP's way), and the cache figure
	$(BIN)/python bench/translate_throughput.py

bench-lid: install ## language-ID rows/s on captions, single process vs pool
	$(BIN)/python bench/lid_throughput.py

bench-flow: install ## the build-mix flow end to end vs the translator alone on the same strings, hours for 5M rows
	$(BIN)/python bench/flow_throughput.py

gpu-pack: install ## build gpu/whl (git-ignored) for bench/gpu_check.sh on a lent GPU machine
	bench/gpu_pack.sh

test: install ## run the whole test suite, slow tests included
	$(BIN)/python -m pytest -q

test-fast: install ## run the tests not marked slow
	$(BIN)/python -m pytest -q -m 'not slow'

test-faults: install ## the fault probes and the seeded kill -9 schedule (prints faults=... identical=... lost_rows=0)
	$(BIN)/python -m pytest -q -s tests/test_faults.py tests/test_fault_schedule.py

clean: ## remove build outputs (keeps .venv)
	rm -rf out .pytest_cache build *.egg-info
