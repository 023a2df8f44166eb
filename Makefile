# `make run` and `make test` set up .venv on first use; a second call with nothing changed
# skips the install (the stamp file is newer than pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-long dist dist-test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,export]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/studio

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# The long robustness series: kill -9 during training, a 100,000-step GUI soak, the frozen build.
test-long: $(STAMP) dist
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -s -m long tests

# A one-folder desktop build (PyInstaller): dist/torch-studio/{studio,torch-studio}. ~5 min, ~5 GB.
dist: $(STAMP)
	$(BIN)/python -m pip install --quiet 'pyinstaller>=6.10'
	$(BIN)/pyinstaller build.spec --noconfirm --log-level WARN
	du -sh dist/torch-studio

dist-test: $(STAMP)
	test -x dist/torch-studio/studio || $(MAKE) dist
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -s -m long tests/dist

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
