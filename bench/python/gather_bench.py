"""The Python side of `bench`: one workload on CPython's asyncio or on uvloop, one JSON line.

Usage: gather_bench.py SYSTEM WORKLOAD N    (SYSTEM: cpython | uvloop)

Measured exactly as the Rust systems are: `secs` from just before the first child is created
(inside the running loop) to the result reaching the awaiter; `teardown_secs` from the verified
result to `asyncio.run` having returned (it cancels the tasks still pending, e.g. the sleepers of
fail_fast); memory from VmHWM in /proc/self/status. Children are gathered with asyncio.gather,
which wraps each coroutine in a task. A missing uvloop prints a "skipped" line and exits 0.
"""

import asyncio
import json
import sys
import time

SLEEP = 0.001
FAIL_FAST_SLEEP = 10.0
CANCEL_SLEEP = 100.0
FAN_OUT = 10


def vm_hwm_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Start:
    def __init__(self):
        self.hwm_kb = vm_hwm_kb()
        self.at = time.perf_counter()

    def finish(self, done, ok):
        self.done = done
        self.ok = ok
        self.teardown_from = time.perf_counter()
        return self


def check_values(workload, n, values, expected):
    if len(values) != n:
        print(f"{workload}: {len(values)} values for n = {n}", file=sys.stderr)
        return False
    for i, v in enumerate(values):
        if v != expected(i):
            print(f"{workload}: value {i} is {v}, not {expected(i)}", file=sys.stderr)
            return False
    return sum(values) == sum(expected(i) for i in range(n))


async def in_order(workload, n, child, expected=lambda i: i):
    start = Start()
    values = await asyncio.gather(*[child(i) for i in range(n)])
    done = time.perf_counter()
    return start.finish(done, check_values(workload, n, values, expected))


async def ready(n):
    async def child(i):
        return i * i

    return await in_order("ready", n, child, lambda i: i * i)


async def spawn_yield(n):
    async def child(i):
        await asyncio.sleep(0)
        return i

    return await in_order("spawn_yield", n, child)


async def sleep(n):
    async def child(i):
        await asyncio.sleep(SLEEP)
        return i

    return await in_order("sleep", n, child)


async def sleep_spread(n):
    async def child(i):
        await asyncio.sleep(i / n)
        return i

    return await in_order("sleep_spread", n, child)


async def staggered(n):
    async def child(i):
        for _ in range(15 - 16 * i // n):
            await asyncio.sleep(0)
        return i

    return await in_order("staggered", n, child)


async def nested(n):
    async def leaf():
        return 1

    async def node(n):
        if n <= FAN_OUT:
            parts = await asyncio.gather(*[leaf() for _ in range(n)])
        else:
            parts = await asyncio.gather(*[node(n // FAN_OUT) for _ in range(FAN_OUT)])
        return sum(parts)

    start = Start()
    total = await node(n)
    done = time.perf_counter()
    return start.finish(done, total == n)


async def fail_fast(n):
    # Plain gather: the first exception propagates at once and the siblings keep sleeping;
    # asyncio.run cancels them on the way out, inside teardown_secs (as for our crate).
    class Failed(Exception):
        pass

    async def child(i):
        if i == n // 2:
            raise Failed(i)
        await asyncio.sleep(FAIL_FAST_SLEEP)
        return i

    start = Start()
    index = None
    try:
        await asyncio.gather(*[child(i) for i in range(n)])
    except Failed as e:
        index = e.args[0]
    done = time.perf_counter()
    return start.finish(done, index == n // 2)


async def cancel(n):
    started = 0

    async def child():
        nonlocal started
        started += 1
        await asyncio.sleep(CANCEL_SLEEP)

    start = Start()
    gathered = asyncio.gather(*[child() for _ in range(n)])
    while started < n:
        await asyncio.sleep(0)
    gathered.cancel()
    ok = False
    try:
        await gathered
    except asyncio.CancelledError:
        ok = True
    done = time.perf_counter()
    return start.finish(done, ok)


async def chain(n):
    async def link(i):
        if i == n:
            return n
        return await asyncio.create_task(link(i + 1))

    start = Start()
    total = await asyncio.create_task(link(1))
    done = time.perf_counter()
    return start.finish(done, total == n)


WORKLOADS = {
    f.__name__: f
    for f in (ready, spawn_yield, sleep, sleep_spread, staggered, nested, fail_fast, cancel, chain)
}


def main():
    system, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    head = {"system": system, "workload": workload, "n": n}
    if workload not in WORKLOADS or system not in ("cpython", "uvloop") or n < 1:
        print(f"usage: gather_bench.py cpython|uvloop {'|'.join(WORKLOADS)} N", file=sys.stderr)
        sys.exit(2)
    runner = asyncio.run
    if system == "uvloop":
        try:
            import uvloop
        except ImportError:
            head["skipped"] = "uvloop is not installed: run bench/python/setup.sh"
            print(json.dumps(head))
            return
        runner = uvloop.run
    # Deep chains of awaited tasks and big gathers are fine; only the tree of nested gathers
    # recurses, log10(N) deep.
    finish = runner(WORKLOADS[workload](n))
    end = time.perf_counter()
    peak = vm_hwm_kb()
    secs = finish.done - finish.at
    head.update(
        ok=bool(finish.ok),
        secs=secs,
        ns_per_item=secs * 1e9 / n,
        peak_rss_kb=peak,
        rss_bytes_per_item=max(peak - finish.hwm_kb, 0) * 1024 / n,
        teardown_secs=end - finish.teardown_from,
    )
    print(json.dumps(head), flush=True)
    sys.exit(0 if finish.ok else 1)


if __name__ == "__main__":
    main()
