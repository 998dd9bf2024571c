#!/usr/bin/env bash
# The allocation gate (issue 2): builds the benchmarks package in Benchmarks/ (release) and
# checks the fast path's steady-state heap allocations against Benchmarks/Thresholds (0 per
# 1,000 packets). Fails when a benchmark allocates, or when the replay it measures went wrong.
# After an intended change of the numbers: (cd Benchmarks && swift package
# --allow-writing-to-package-directory benchmark thresholds update --metric mallocCountTotal).
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
# A hung build (the type checker has hung on benchmark code before) fails instead of waiting.
timeout 1200 swift package benchmark thresholds check --no-progress
