"""An observer raising a BaseException (SystemExit, KeyboardInterrupt, ...) still gets one Info."""

from __future__ import annotations

import pytest

import lmstream
from lmstream import Info, StopReason


class _Boom(BaseException):
    """Stands for pytest's Failed / Skipped (BaseExceptions that are not Exceptions)."""


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt, GeneratorExit, _Boom])
@pytest.mark.parametrize("where", ["on_start", "on_event", "on_end"])
def test_every_stream_ends_with_one_info_and_the_error(scripted, exc_type, where):
    class Raiser(lmstream.Observer):
        pass

    def raise_it(self, *args):
        raise exc_type("observer gone wrong")

    setattr(Raiser, where, raise_it)
    context = scripted("hello")
    stream, task = lmstream.generate_task("q", context=context, observers=[Raiser()])
    events = list(stream)
    assert sum(isinstance(e, Info) for e in events) == 1 and isinstance(events[-1], Info)
    info = events[-1]
    assert info.stop_reason == StopReason.ERROR and isinstance(info.error, exc_type)
    with pytest.raises(exc_type):
        task.wait(5)
    # the worker survived: the next generation works
    text = "".join(e.text for e in lmstream.generate("q", context=context) if isinstance(e, lmstream.Chunk))
    assert text == "hello"
