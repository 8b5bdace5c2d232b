"""``python -m tokensim``: the same entry point as the ``tokensim`` script."""

from .cli import main

main()
