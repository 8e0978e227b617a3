"""Data: sources -> example sets -> mixture sampler -> collate."""
