# Two commands do everything from nothing: `make demo` and `make test`.
# Both create .venv when missing (about a minute once) and reuse it afterwards.
SHELL := /bin/bash
VENV ?= .venv
OUT ?= out
ENV := source $(VENV)/ros_env.sh &&
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast test-field-checks fuzz-long lint bench soak clean

venv:
	@tools/setup_env.sh $(VENV)

demo: venv
	@$(ENV) depth-anything-ros demo --out $(OUT)/demo $(DEMO_ARGS)

test: venv
	@$(ENV) fastdds shm clean >/dev/null 2>&1 || true
	@$(ENV) python -m pytest $(PYTEST_ARGS)

# The quick lane while working: everything but the tests marked slow (CI runs `make test`).
test-fast: venv
	@$(ENV) fastdds shm clean >/dev/null 2>&1 || true
	@$(ENV) python -m pytest -m "not slow" $(PYTEST_ARGS)

# The message-building tests with Humble's message setter checks (ROS_PYTHON_CHECK_FIELDS=1);
# part of `make test` too (test/test_field_checks.py).
test-field-checks: venv
	@$(ENV) python -m pytest test/test_field_checks.py $(PYTEST_ARGS)

# The property-based fuzz tests with many more examples and a fresh seed (tens of minutes).
fuzz-long: venv
	@$(ENV) HYPOTHESIS_PROFILE=long python -m pytest test/test_fuzz_*.py $(PYTEST_ARGS)

lint: venv
	@$(ENV) ruff check .

bench: venv
	@$(ENV) python benchmarks/run_all.py --out $(OUT)/bench

# The node's soak test as in docs/node.md: peak-rate search, then ten minutes at that rate.
SOAK_ARGS ?= --find-peak --rate 4 --trial 10 --duration 600 --warmup 20 --bad-fraction 0.1 \
	--checkpoint untrained:vits --param input_size=266
soak: venv
	@$(ENV) depth-anything-ros bench soak $(SOAK_ARGS) --out $(OUT)/soak/soak.json \
		--plot $(OUT)/soak/soak.png

clean:
	rm -rf build install log $(OUT) .pytest_cache
