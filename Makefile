# The two set-up commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Both install what they need into ./.venv first.
.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/ddml demo

test: setup
	.venv/bin/python -m pytest -q tests

bench: setup
	.venv/bin/python benchmarks/bench_forces.py

clean:
	rm -rf .venv .pytest_cache
