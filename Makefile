# polymix — the commands users type. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.polymix-installed
OUT    ?= out/demo
SOURCE ?= shapes
LIMIT  ?=

.PHONY: help install demo prepare test test-fast langs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with torch (CPU or CUDA build) and polymix in editable mode

$(STAMP): pyproject.toml scripts/install-torch.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	scripts/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

demo: install ## build the demo mix from the embedded `shapes` sample into $(OUT)
	$(BIN)/polymix prepare --source $(SOURCE) --out $(OUT) --overwrite $(if $(LIMIT),--limit $(LIMIT),)
	$(BIN)/polymix inspect $(OUT)

prepare: install ## English sources -> templated English shards (SOURCE=..., OUT=...)
	$(BIN)/polymix prepare --source $(SOURCE) --out $(OUT) $(if $(LIMIT),--limit $(LIMIT),)

langs: install ## print the 95 target languages (+ English) with codes and mC4 shares
	$(BIN)/polymix langs

test: install ## run the whole test suite, slow tests included
	$(BIN)/python -m pytest -q

test-fast: install ## run the tests not marked slow
	$(BIN)/python -m pytest -q -m 'not slow'

clean: ## remove build outputs (keeps .venv)
	rm -rf out .pytest_cache build *.egg-info
