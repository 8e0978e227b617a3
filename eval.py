"""`python eval.py ...`: see pairlab.evaluate."""

from pairlab.evaluate import main

if __name__ == "__main__":
    main()
