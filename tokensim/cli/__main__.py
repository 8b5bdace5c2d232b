"""``python -m tokensim.cli``: the same entry point as the ``tokensim`` script."""

from . import main

main()
