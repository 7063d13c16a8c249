"""The machinery of runs: one run, its store directory, campaigns of many seeds, liveness."""
