"""`python mine.py ...`: see pairlab.commands.mine."""

from pairlab.commands.mine import main

if __name__ == "__main__":
    main()
