"""``python -m tokensim``: the same entry point as the ``tokensim`` script."""

import sys

try:
    from ._entry import main
except KeyboardInterrupt:  # a Ctrl-C while _entry itself loads: the line and status its own handler gives
    sys.stderr.write("tokensim: aborted\n")
    raise SystemExit(130) from None

main()
