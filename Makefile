# The two commands of the README:
#   make demo   set up this machine and run the main job on the built-in default
#   make test   set up this machine and run the whole test suite (what CI runs)
SHELL := /bin/bash
.DEFAULT_GOAL := help
MANIFEST ?= ../shared/reference/manifests/complete-postgres-manifest.yaml

help:
	@echo "make demo   # set up, then run the main job on the built-in default"
	@echo "make test   # set up, then run the whole test suite (CI runs this)"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

lint: setup
	@bash scripts/test.sh lint

bench: setup
	@bash scripts/bench.sh

.PHONY: help setup demo test lint bench
