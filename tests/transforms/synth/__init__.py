"""Tests of the synthetic export generator (transforms/synth)."""
