"""Evaluation: retrieval metrics, exact nearest-neighbour search and pair-classification metrics."""
