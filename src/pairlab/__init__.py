"""pairlab: train bi-encoders and cross-encoders on pairs, triplets and teacher scores."""

__version__ = "0.1.0"
