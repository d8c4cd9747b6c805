"""`ehrcheck scan --workers N`: the audits spread over N worker processes, one per core.

The scan is CPU-bound in one process (~16 ms of CPU per endpoint: HTTP client, JSON, rules), so
one process uses one core however many the machine has. Here the parent keeps everything that
must be single — reading the list lazily, resume, `results.jsonl`, the history Recorder
(`on_record`), the tally, early stop, progress — and the children only audit:

- Endpoints are handed out BY HOST (host:port): while a host has audits in flight, every endpoint
  of it goes to the same child, whose own HostLimiter then keeps `--per-host` exact. A host with
  nothing in flight goes to the child with the most free room, so the load spreads and the map
  holds only the hosts in flight (a million distinct hosts do not make a million-entry map).
- `-j` is split among the children; the parent sends a child at most twice its share ahead, so
  the list is still read lazily and never materialised (bounded lookahead, as in one process).
- Each child sends back each finished row (a dict); the parent writes it exactly as one process
  would. Children write only what an audit writes itself (`--keep-evidence`, `--reports`, under
  names unique per endpoint); never to the terminal.
- Children are forked from a fork server (multiprocessing's 'forkserver': a fresh process that
  imports the audit path and loads the rule packs once, ehrcheck.scan.warm, then forks each child
  from that state), never from the parent (forking a process that runs an asyncio loop is
  unsafe); 'spawn' where the platform has no fork server. A forked child starts in a few
  milliseconds instead of importing everything again (~0.3 s of CPU each). The fork server is
  stopped and reaped with the children. Children start with SIGINT ignored: Ctrl-C reaches the parent, which closes their pipes; a child seeing its pipe close
  cancels its audits and exits, so early stop, Ctrl-C, an error, or the parent being killed
  leaves no orphan. Every child is joined (no zombie); one that does not exit is terminated.
- A child that dies (killed, out of memory) makes an `error` row for each endpoint it was
  auditing, and the scan stops with `stats.worker_failed` saying which process and how: never a hang.
- `ScanOptions.verify` may hold an ssl.SSLContext, which does not pickle: children get what
  builds it (`ca_bundle`, or the bool) and build their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from ehrcheck.http.client import ssl_context
from ehrcheck.scan.endpoint_list import Endpoint
from ehrcheck.scan.run import (
    HostLimiter,
    ScanOptions,
    ScanStats,
    audit_endpoint,
    host_key,
    sharing_between_audits,
    summarise,
    write_row,
)

MAX_AUTO_WORKERS = 8  # the parent (writing, recording) becomes the limit well before this
ENDPOINTS_PER_WORKER = 100  # a child costs ~0.7 s of CPU to start: not worth it for a short list
LOOKAHEAD = 2  # endpoints sent to a child ahead of its audits, per audit slot
JOIN_SECONDS = 10.0  # how long a child may take to exit once its pipe is closed


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def auto_workers(remaining: int, concurrency: int) -> int:
    """The default --workers: one per usable core (at most 8), one per 100 endpoints left to audit,
    never more than -j; 1 means no worker processes at all."""
    return max(1, min(usable_cores(), MAX_AUTO_WORKERS, concurrency, remaining // ENDPOINTS_PER_WORKER))


def shares(concurrency: int, workers: int) -> list[int]:
    """-j split among the children: every child gets at least one slot, the first ones the rest."""
    n = max(1, min(workers, concurrency))
    return [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]


def portable(options: ScanOptions) -> ScanOptions:
    """`options` as a child can receive them: an SSLContext does not pickle, so it travels as what
    built it (the --ca-bundle path, or True for the system's store)."""
    options = dataclasses.replace(options, connections=None, tls_surveys=None)  # each process has its own
    if isinstance(options.verify, ssl.SSLContext):
        return dataclasses.replace(options, verify=options.ca_bundle or True)
    return options


def rebuilt(options: ScanOptions) -> ScanOptions:
    """In the child: one SSL context for all of its audits, as the parent's scan would share."""
    if options.verify is True or isinstance(options.verify, str):
        return dataclasses.replace(options, verify=ssl_context(options.verify))
    return options


# --- the child -------------------------------------------------------------------------------


def child_main(conn: Connection, options: ScanOptions, out_dir: Path, concurrency: int) -> None:
    """A worker process: audit what the parent sends, send back each row, exit when the pipe closes."""
    from ehrcheck.runtime import tune_gc

    tune_gc()  # a spawned worker starts afresh: its imports and first audit are most of its collector's work
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        asyncio.run(_child_audits(conn, rebuilt(options), out_dir, concurrency))
    except Exception as exc:  # noqa: BLE001 - told to the parent, which names it; no traceback on the terminal
        with contextlib.suppress(OSError):
            conn.send(("crash", f"{exc.__class__.__name__}: {exc}"))
        raise SystemExit(70) from None
    finally:
        conn.close()


async def _child_audits(conn: Connection, options: ScanOptions, out_dir: Path, concurrency: int) -> None:
    async with sharing_between_audits(options) as shared:  # this child's audits share connections, TLS surveys
        await _child_loop(conn, shared, out_dir, concurrency)


async def _child_loop(conn: Connection, options: ScanOptions, out_dir: Path, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, int, Endpoint]] = asyncio.Queue()
    closed = asyncio.Event()
    fd = conn.fileno()

    def readable() -> None:
        try:
            while conn.poll():
                queue.put_nowait(conn.recv())
        except (EOFError, OSError):  # the parent closed the pipe (done, stopping) or died
            loop.remove_reader(fd)
            closed.set()

    loop.add_reader(fd, readable)
    hosts = HostLimiter(options.per_host)
    broken: list[BaseException] = []

    async def work() -> None:
        try:
            await audit_each()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - ends the child, which tells the parent why
            broken.append(exc)
            closed.set()

    async def audit_each() -> None:
        while True:
            _, seq, endpoint = await queue.get()
            async with hosts.slot(host_key(endpoint.url)):
                try:
                    record = await audit_endpoint(endpoint, options, out_dir)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a row, as for any endpoint that errors
                    record = summarise(endpoint, None, "error", f"internal error: {exc.__class__.__name__}: {exc}", None)
            try:
                conn.send(("row", seq, record))
            except OSError:
                closed.set()
                return

    tasks = [asyncio.create_task(work()) for _ in range(concurrency)]
    try:
        await closed.wait()
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if broken:
        raise broken[0]


# --- the parent ------------------------------------------------------------------------------


@dataclass
class _Child:
    index: int
    process: Any  # multiprocessing.process.BaseProcess (ForkServerProcess or SpawnProcess)
    conn: Connection
    capacity: int
    inflight: dict[int, tuple[Endpoint, str]] = field(default_factory=dict)  # seq -> (endpoint, host)
    crash: str | None = None  # what the child said before it died, if it could
    gone: bool = False


def _how_it_ended(child: _Child) -> str:
    child.process.join(timeout=2)
    code = child.process.exitcode
    if code is None:
        how = "stopped answering"
    elif code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    if child.crash:
        how += f" ({child.crash})"
    return f"worker process {child.index + 1} (pid {child.process.pid}) {how}"


@contextlib.contextmanager
def _sigint_ignored() -> Any:
    """Children start with SIGINT ignored (inherited across exec): a Ctrl-C while one is still
    importing would otherwise print its KeyboardInterrupt traceback."""
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


PRELOAD = ["ehrcheck.scan.warm"]  # what the fork server loads before forking any child


def _context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """The fork server where there is one (Linux, macOS), with the audit path preloaded; else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _start(options: ScanOptions, out_dir: Path) -> list[_Child]:
    ctx = _context()
    travelling = portable(options)
    children: list[_Child] = []
    try:
        for i, share in enumerate(shares(options.concurrency, options.workers)):
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(
                target=child_main,
                args=(child_end, travelling, out_dir, share),
                name=f"ehrcheck-scan-worker-{i + 1}",
                daemon=True,  # a safety net: multiprocessing ends daemons when the parent exits
            )
            with _sigint_ignored():
                process.start()
            child_end.close()  # the child's end lives in the child only: its death is EOF here
            children.append(_Child(i, process, parent_end, capacity=share * LOOKAHEAD))
    except BaseException:
        _stop(children)
        raise
    return children


def _stop(children: list[_Child]) -> None:
    """Close every pipe (a child then cancels its audits and exits) and reap every child."""
    for child in children:
        with contextlib.suppress(OSError):
            child.conn.close()
    for child in children:
        child.process.join(timeout=JOIN_SECONDS)
        if child.process.is_alive():
            child.process.terminate()
            child.process.join(timeout=5)
        if child.process.is_alive():
            child.process.kill()
            child.process.join()
        child.process.close()
    # multiprocessing's resource tracker (started with the first spawned child) would otherwise
    # outlive the scan as an orphan until exit: stop and reap it too (it tracks nothing of ours).
    from multiprocessing import forkserver, resource_tracker

    stop_tracker = getattr(resource_tracker._resource_tracker, "_stop", None)  # private: no public way
    if children and stop_tracker is not None:
        with contextlib.suppress(Exception):
            stop_tracker()
    # Likewise the fork server (it would live until the parent exits): closing its pipe ends it,
    # and it is reaped here, so its CPU and its children's count as the scan's.
    stop_server = getattr(forkserver._forkserver, "_stop", None)  # private: no public way
    if children and stop_server is not None:
        with contextlib.suppress(Exception):
            stop_server()


async def run_scan_pool(
    endpoints: Iterable[Endpoint],
    out: TextIO,
    out_dir: Path,
    options: ScanOptions,
    done: set[str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[dict[str, Any]], str | None] | None = None,
) -> ScanStats:
    """`run_scan` (same arguments, same rows, same stats) with the audits in `options.workers`
    worker processes. Set `stats.worker_failed` when a child died; the scan stops then."""
    stats = ScanStats()
    already = done or set()
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()  # a row arrived, a child died, or the scan must stop
    halt: list[str] = []  # why the feeder must stop: "stop", "dead"
    failure: list[BaseException] = []  # an error in writing or recording, raised by run_scan_pool
    hosts: dict[str, list[int]] = {}  # host in flight -> [child index, audits in flight]

    def release(host: str) -> None:
        entry = hosts[host]
        entry[1] -= 1
        if entry[1] <= 0:
            del hosts[host]

    def write(record: dict[str, Any]) -> None:
        write_row(record, out, stats, on_record)
        if stop is not None and not halt and (why := stop(record)):
            stats.stopped = why
            halt.append("stop")

    def died(child: _Child) -> None:
        child.gone = True
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(child.conn.fileno())
        if not child.inflight and halt:
            return  # it ended after the scan had stopped: nothing lost
        what = _how_it_ended(child)
        for _seq, (endpoint, host) in sorted(child.inflight.items()):
            release(host)
            write(summarise(endpoint, None, "error", f"internal error: the {what} while auditing it", None))
        child.inflight.clear()
        if stats.worker_failed is None:
            stats.worker_failed = what
        halt.append("dead")

    def readable(child: _Child) -> None:
        try:
            try:
                while not child.gone and child.conn.poll():
                    message = child.conn.recv()
                    if message[0] == "row":
                        _, seq, record = message
                        _endpoint, host = child.inflight.pop(seq)
                        release(host)
                        if "stop" not in halt:  # rows after an early stop are dropped, as in one process
                            write(record)
                    elif message[0] == "crash":
                        child.crash = str(message[1])[:300]
            except (EOFError, OSError):
                died(child)
        except Exception as exc:  # noqa: BLE001 - surfaced by run_scan_pool, not lost in asyncio's log
            failure.append(exc)
            halt.append("error")
        changed.set()

    async def wait_for_change() -> None:
        changed.clear()
        await changed.wait()

    async def feed(children: list[_Child]) -> None:
        seq = 0
        for endpoint in endpoints:
            if halt:
                return
            if endpoint.url in already:
                stats.skipped += 1
                continue
            host = host_key(endpoint.url)
            while True:
                if halt:
                    return
                entry = hosts.get(host)
                if entry is not None:
                    child = children[entry[0]]
                else:  # not in flight: the child with the most free room takes it
                    child = max(children, key=lambda c: (not c.gone, c.capacity - len(c.inflight)))
                if not child.gone and len(child.inflight) < child.capacity:
                    break
                await wait_for_change()
            seq += 1
            child.inflight[seq] = (endpoint, host)
            if entry is None:
                hosts[host] = [child.index, 1]
            else:
                entry[1] += 1
            try:
                child.conn.send(("audit", seq, endpoint))
            except OSError:
                died(child)
        while not halt and any(c.inflight for c in children):
            await wait_for_change()

    children = _start(options, out_dir)
    try:
        for child in children:
            loop.add_reader(child.conn.fileno(), readable, child)
        await feed(children)
        if failure:
            raise failure[0]
    finally:
        for child in children:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(child.conn.fileno())
        _stop(children)
    return stats
