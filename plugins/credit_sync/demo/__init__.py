"""Demo: department databases with realistic data, and the runner behind `make demo`."""
