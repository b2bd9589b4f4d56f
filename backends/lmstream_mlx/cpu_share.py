"""Large numpy products shared between the calling thread and one helper thread.

A one-row decode step reads the weights once (~530 MB of float32 per token for the default
model) with dot products (``dot_rows``) at ~28 GB/s, about what the project machine's memory
gives both cores together, so it gains nothing from a second core. Products of 4 or more rows
(a batched decode step, verification, a prefill chunk) are bound by arithmetic instead: there
the second core does half the work (8 rows: 59 -> 39 ms of products per step, quiet machine).
OpenBLAS's own threads busy-wait for each other, which on a loaded machine made small
products hundreds of times slower, so the backend keeps OpenBLAS at one thread and shares
work itself:

``share(tasks)`` runs independent tasks (blocks of weight rows, attention blocks) on the
calling thread and on one helper thread, each taking the next task left (work sharing): a
helper that is slow to wake takes fewer tasks, and the caller waits at most for the ones the
helper took. numpy releases the GIL inside BLAS and its ufuncs, so both threads compute at
once; between those calls the two threads hand the GIL back and forth, and on an
oversubscribed machine each hand-off can wait for the other thread to be scheduled: at load
5-8 on the project's 2 cores a shared decode was 0.8x and a 16-query attention block 4x
slower than the caller alone (benchmarks/mlx_cpu_vs_llama_cpp.py --shared,
benchmarks/mlx_cpu_attention.py --shared). Hence off by default; it is meant for a machine
with an idle core.

Who shares is the caller's choice (``MlxOptions.cpu_share``, kept on the fused blocks and
the output head: speed.py, cpu_layers.py). One helper per process, used by one caller at a
time; a second caller (another lane's thread) finding it busy runs its tasks itself. Batched
decode products (up to ``SMALL_ROWS`` rows) and attention are bit-identical to the unshared ones
(each task makes the same BLAS calls on its rows); a prefill chunk's products differ in the
last bits (one GEMM per task instead of one in all) (tests/mlx/test_cpu_share.py).
"""

from __future__ import annotations

import enum
import itertools
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

from .blas_scope import batched_call

SHARE_MIN_BYTES = 2 * 1024 * 1024
"""Products whose weight is smaller than this run on the caller alone (the hand-over to the
helper, tens of microseconds, would cost about what it saves)."""
BLOCKS = 8
"""Tasks a shared product is cut into (small enough that the caller rarely waits long for a
block the helper took, large enough to keep each GEMV efficient)."""
DOT_ROWS = 3
"""Products with up to this many input rows are dot products (``dot_rows``): measured per
decode step's products, 1 row 21 ms against 37 for ``sgemv``, 2 rows 23 against 43 for the
blocks below, 3 rows 39 against 52, 4 rows 45 against 49 (quiet machine, one thread)."""
SMALL_ROWS = 64
"""Products with ``DOT_ROWS + 1`` to this many input rows go block by block (cpu_layers.rows_product: batched
decode steps, verification's several tokens per row; 8 rows x 5 tokens also measured faster
blocked than through one ``x @ W.T``)."""
BLOCK_BYTES = 384 * 1024
"""Bytes of weight rows per block of such a product (the project machine's cores have 1 MiB L2)."""


SMALL_PRODUCT = 1_000_000
"""OpenBLAS multiplies a product of at most this many multiply-adds (rows x columns x inputs)
with its small-matrix kernel, without packing the operands: blocks kept under it cost 14-38%
less CPU for 16-64 rows (a prefill chunk of 16 tokens: 87 -> 54 ms for the 30 layers'
products, load 10; benchmarks/mlx_cpu_chunks.py --blocks)."""


class Sharing(enum.Enum):
    """Which work a model's numpy products share with the helper thread (``MlxOptions.cpu_share``:
    False, None, True)."""

    OFF = "off"
    BATCHED = "batched"
    """Products of ``DOT_ROWS + 1`` to ``SMALL_ROWS`` rows: batched decode steps and verification,
    bound by arithmetic (8 rows: a step 70-75 -> 53-55 ms on the quiet machine, 112-120 -> 76-79 ms
    beside two busy processes); and every product of a call prefilling several prompts at once
    (``blas_scope.batched_call``: a burst's shared prefill). One-row steps and one prompt's
    prefill chunks stay with the caller."""
    ALL = "all"
    """Every product of more than ``DOT_ROWS`` rows and prefill attention too."""

    def shares(self, rows: int) -> bool:
        """Whether a product of ``rows`` input rows is shared."""
        if rows <= DOT_ROWS or self is Sharing.OFF:
            return False
        return self is Sharing.ALL or rows <= SMALL_ROWS or batched_call()

    @property
    def attention(self) -> bool:
        """Whether prefill attention's blocks are shared."""
        return self is Sharing.ALL


def weight_block(inputs: int, rows: int = 1) -> int:
    """Weight rows per block of a product of ``rows`` input rows over ``inputs`` features: at
    most ``BLOCK_BYTES`` of weights, and small enough for OpenBLAS's small-matrix kernel."""
    return max(8, min(BLOCK_BYTES // (4 * inputs), SMALL_PRODUCT // (rows * inputs)))

class _Job:
    """Tasks taken one by one by whichever thread is free; ``finished`` once all have run."""

    def __init__(self, tasks: Sequence[Callable[[], object]]) -> None:
        self.tasks = tasks
        self.taken = itertools.count()  # next() on it is atomic in CPython
        self.left = len(tasks)
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        """Run tasks until none is left."""
        total = len(self.tasks)
        while (index := next(self.taken)) < total:
            try:
                self.tasks[index]()
            except BaseException as exc:  # reported to the caller, never lost in the helper
                self.error = exc
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.finished.set()


class _Helper:
    """The helper thread (started on first use) and the lock that gives it to one caller."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.busy = threading.Lock()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def ensure_started(self) -> None:
        with self.start_lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="lmstream-cpu-share", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            self.jobs.get().work()


_helper = _Helper()


def share(tasks: Sequence[Callable[[], object]], enabled: bool = True) -> None:
    """Run ``tasks`` (independent; each writes its own output) on this thread and, when
    ``enabled``, the helper (else, or while another caller has it, all on this thread)."""
    if len(tasks) < 2 or not enabled or not _helper.busy.acquire(blocking=False):
        for task in tasks:
            task()
        return
    try:
        _helper.ensure_started()
        job = _Job(tasks)
        _helper.jobs.put(job)
        job.work()
        job.finished.wait()
    finally:
        _helper.busy.release()
    if job.error is not None:
        raise job.error


def dot_rows(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``x @ weight.T`` for up to ``DOT_ROWS`` rows of ``x`` as dot products (``np.vecdot``: BLAS's
    ``sdot`` per output, every input row against one weight row while it is in the L1 cache).
    A one-row ``x @ weight.T`` is OpenBLAS's ``sgemv``, which read the weights at ~14 GB/s on the
    project machine; ``sdot`` reads them at ~28 GB/s, so a decode step's products took 21 ms
    instead of 37 (benchmarks/mlx_cpu_products.py --rows)."""
    if x.shape[0] == 1:
        one: np.ndarray = np.vecdot(weight, x[0])[None]
        return one
    by_output = np.empty((weight.shape[0], x.shape[0]), dtype=np.float32)
    np.vecdot(weight[:, None, :], x[None], out=by_output)
    return np.ascontiguousarray(by_output.T)


def shared_product(x: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """``x @ weight.T`` with the weight's rows cut into ``BLOCKS`` tasks shared with the helper;
    None when the weight is small or ``x`` has at most ``DOT_ROWS`` rows (the caller multiplies
    it alone: its dot products already read memory as fast as both cores together). Each output
    row is computed by the same BLAS calls as unshared (``rows_product``'s blocks, grouped),
    so results are bit-identical up to ``SMALL_ROWS`` rows; more rows (a prefill chunk) get one
    GEMM per task."""
    rows = x.shape[0]
    if weight.nbytes < SHARE_MIN_BYTES or rows <= DOT_ROWS:
        return None
    outputs, inputs = weight.shape
    unit = weight_block(inputs, rows) if rows <= SMALL_ROWS else 16
    step = -(-outputs // (BLOCKS * unit)) * unit
    bounds = [(start, min(start + step, outputs)) for start in range(0, outputs, step)]
    out = np.empty((outputs, rows), dtype=np.float32)
    columns = np.ascontiguousarray(x.T)
    sub = unit if rows <= SMALL_ROWS else step
    share([_block(weight, columns, out, a, b, sub) for a, b in bounds])
    result: np.ndarray = out.T
    return result


def _block(weight: np.ndarray, columns: np.ndarray, out: np.ndarray, start: int, end: int,
           sub: int) -> Callable[[], None]:
    def product_block() -> None:
        for first in range(start, end, sub):
            last = min(first + sub, end)
            np.matmul(weight[first:last], columns, out=out[first:last])
    return product_block
