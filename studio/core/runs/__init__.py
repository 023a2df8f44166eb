"""Run folders, reading them back, comparing them, and sweeps of many runs."""
