"""`python train.py ...`: see pairlab.commands.train."""

from pairlab.commands.train import main

if __name__ == "__main__":
    main()
