"""Small self-written sample datasets bundled with pairlab (see `pairlab.samples.quora`)."""
