"""Built-in structured-output constraint engines (``llguidance``), registered through the
``lmstream`` entry point ``structured``. Needs ``pip install 'lmstream[structured]'``."""
