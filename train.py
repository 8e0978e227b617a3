"""`python train.py ...`: see pairlab.train."""

from pairlab.train import main

if __name__ == "__main__":
    main()
