"""Large numpy products shared between the calling thread and one helper thread.

A decode step on the CPU path is a chain of float32 GEMVs bound by how fast one core reads
the weights (~530 MB per token for the default model); a second core reads the other half
of a large weight in the same time (the issue's measurement: the 49152x576 output head took
9.4 ms on one OpenBLAS thread, 4.9 ms on two). OpenBLAS's own threads busy-wait for each
other, which on a loaded machine made small products hundreds of times slower, so the
backend keeps OpenBLAS at one thread and shares work itself:

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
time; a second caller (another lane's thread) finding it busy runs its tasks itself. Decode
products (up to ``SMALL_ROWS`` rows) and attention are bit-identical to the unshared ones
(each task makes the same BLAS calls on its rows); a prefill chunk's products differ in the
last bits (one GEMM per task instead of one in all) (tests/mlx/test_cpu_share.py).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

SHARE_MIN_BYTES = 2 * 1024 * 1024
"""Products whose weight is smaller than this run on the caller alone (the hand-over to the
helper, tens of microseconds, would cost about what it saves)."""
BLOCKS = 8
"""Tasks a shared product is cut into (small enough that the caller rarely waits long for a
block the helper took, large enough to keep each GEMV efficient)."""
SMALL_ROWS = 64
"""Products with 2 to this many input rows go block by block (cpu_layers.rows_product: batched
decode steps, verification's several tokens per row; 8 rows x 5 tokens also measured faster
blocked than through one ``x @ W.T``)."""
BLOCK_BYTES = 384 * 1024
"""Bytes of weight rows per block of such a product (the project machine's cores have 1 MiB L2)."""


SMALL_PRODUCT = 1_000_000
"""OpenBLAS multiplies a product of at most this many multiply-adds (rows x columns x inputs)
with its small-matrix kernel, without packing the operands: blocks kept under it cost 14-38%
less CPU for 16-64 rows (a prefill chunk of 16 tokens: 87 -> 54 ms for the 30 layers'
products, load 10; benchmarks/mlx_cpu_chunks.py --blocks)."""


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


def shared_product(x: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """``x @ weight.T`` with the weight's rows cut into ``BLOCKS`` tasks shared with the helper;
    None when the weight is small (the caller multiplies it alone). Each output row is computed
    by the same BLAS call as unshared (one row: a GEMV on a row block; 2 to ``SMALL_ROWS``
    rows: ``rows_product``'s blocks, grouped), so results are bit-identical; more rows (a
    prefill chunk) get one GEMM per task."""
    if weight.nbytes < SHARE_MIN_BYTES:
        return None
    outputs, inputs = weight.shape
    rows = x.shape[0]
    unit = weight_block(inputs, rows) if 2 <= rows <= SMALL_ROWS else 16
    step = -(-outputs // (BLOCKS * unit)) * unit
    bounds = [(start, min(start + step, outputs)) for start in range(0, outputs, step)]
    if rows == 1:  # the GEMV the unshared path makes, on each block's rows
        row = np.empty((1, outputs), dtype=np.float32)
        share([_row_block(x, weight, row, a, b) for a, b in bounds])
        return row
    out = np.empty((outputs, rows), dtype=np.float32)
    columns = np.ascontiguousarray(x.T)
    sub = unit if rows <= SMALL_ROWS else step
    share([_block(weight, columns, out, a, b, sub) for a, b in bounds])
    result: np.ndarray = out.T
    return result


def _row_block(x: np.ndarray, weight: np.ndarray, out: np.ndarray, start: int, end: int) -> Callable[[], object]:
    def row_product_block() -> object:
        return np.matmul(x, weight[start:end].T, out=out[:, start:end])
    return row_product_block


def _block(weight: np.ndarray, columns: np.ndarray, out: np.ndarray, start: int, end: int,
           sub: int) -> Callable[[], None]:
    def product_block() -> None:
        for first in range(start, end, sub):
            last = min(first + sub, end)
            np.matmul(weight[first:last], columns, out=out[first:last])
    return product_block
