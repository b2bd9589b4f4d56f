"""``python -m lmstream.cli``: the same as the ``lmstream`` console script."""

from __future__ import annotations

from . import main

raise SystemExit(main())
