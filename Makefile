# nodecat: the two commands the README starts with are `make demo` and `make test`.
# Everything runs inside .venv, created from constraints.txt (the versions that
# generate the committed catalogs). No target needs the network except `venv`,
# which installs packages.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nodecat-installed

.DEFAULT_GOAL := help
.PHONY: help venv demo test docs catalogs bench clean

help:
	@echo "make demo      build and check the committed catalogs, validate them, print statistics;"
	@echo "               check every example graph, profile and draw one, run one on built-in data;"
	@echo "               import a ResNet-18 and a Keras two-tower model, export the ResNet to Python and ONNX;"
	@echo "               train the demo CNN on the shipped digits (build/demo/train)"
	@echo "make test      run the test suite"
	@echo "make docs      build the documentation site (docs/mkdocs.yml) into build/docs"
	@echo "make venv      create .venv and install nodecat with pinned dependencies (constraints.txt)"
	@echo "make catalogs  rebuild the committed catalogs of the installed libraries"
	@echo "make bench     run the benchmarks under bench/"
	@echo "make clean     remove .venv and caches"

# Re-installs only when pyproject.toml, constraints.txt or tests/js changed since the last install.
# npm ci: the graph editors' own libraries (tests/js), which load the exported palettes in the tests.
$(STAMP): pyproject.toml constraints.txt tests/js/package.json tests/js/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c constraints.txt -e '.[test]'
	@if command -v npm >/dev/null; then npm ci --prefix tests/js; \
	 else echo "npm not found: the editor palette tests (tests/js) will be skipped"; fi
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/nodecat catalog build all --check
	$(BIN)/nodecat catalog validate
	$(BIN)/nodecat catalog stats
	$(BIN)/nodecat check examples/*.json
	$(BIN)/nodecat profile examples/cnn.json --batch 32
	$(BIN)/nodecat draw examples/residual_block.json -o build/demo/residual_block.svg
	$(BIN)/python examples/make_demo_input.py build/demo/x.npy
	$(BIN)/nodecat run examples/cnn.json --input image=build/demo/x.npy --out build/demo --seed 0
	$(BIN)/nodecat import examples/models/torch_zoo.py:resnet18_cifar --input-shape x=1,3,32,32 --out build/demo/resnet18.json
	$(BIN)/nodecat export build/demo/resnet18.json --to python -o build/demo/resnet18.py
	$(BIN)/nodecat export build/demo/resnet18.json --to onnx -o build/demo/resnet18.onnx --weights build/demo/resnet18.safetensors
	$(BIN)/nodecat import examples/models/keras_zoo.py:two_tower --out build/demo/two_tower.json
	$(BIN)/nodecat check executor/demo/digits_cnn.json
	rm -rf build/demo/train
	$(BIN)/nodecat demo --out build/demo/train
	@echo "nodecat is installed in $(VENV): run  . $(VENV)/bin/activate  and type nodecat --help"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The site's CLI reference and error codes are generated from the code (docs/hooks.py, mkdocs-click).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -f docs/mkdocs.yml

catalogs: $(STAMP)
	$(BIN)/nodecat catalog build all

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit $$?; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
