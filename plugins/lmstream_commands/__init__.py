"""lmstream's built-in commands ``generate``, ``chat``, ``plugins`` and ``bench``: a plugin.

They are registered through ``lmstream_register_commands`` (``plugin.py``) exactly as a
third-party command, or ``lmstream serve``, is; the core's ``lmstream.cli`` only dispatches.
``LMSTREAM_DISABLE_PLUGINS=commands`` turns them off.
"""

from __future__ import annotations
