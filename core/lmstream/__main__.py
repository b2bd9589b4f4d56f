"""``python -m lmstream``: the same as the ``lmstream`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
