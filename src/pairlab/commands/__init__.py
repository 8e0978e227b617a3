"""The commands: `train` (`python train.py`), `evaluate` (`python eval.py`) and `mine` (`python mine.py`), each a
Hydra entry point over the library; nothing imports them."""
