"""`python mine.py ...`: see pairlab.mine."""

from pairlab.mine import main

if __name__ == "__main__":
    main()
