"""``python -m tokensim``: the same entry point as the ``tokensim`` script."""

from ._entry import main

main()
