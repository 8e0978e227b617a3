"""`python eval.py ...`: see pairlab.commands.evaluate."""

from pairlab.commands.evaluate import main

if __name__ == "__main__":
    main()
