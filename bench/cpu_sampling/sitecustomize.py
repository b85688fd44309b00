"""On-CPU samples of a `ccxt-oms worker` started by a benchmark with this directory first on
PYTHONPATH and `OMS_BENCH_CPU_SAMPLES` naming a directory (bench/wire.py): every 10 ms of the
process's CPU time (`ITIMER_PROF`: user + system, so time spent runnable but preempted on a
loaded machine is never counted, as it is by a wall-clock sampler), the stack that was
running is counted by whose work it is (bench/cpu_kind.py); SIGUSR2 writes the counts so far
to `<dir>/<pid>.json`. Any other process, or without the variable, it does nothing."""

import os
import sys

if os.environ.get("OMS_BENCH_CPU_SAMPLES") and sys.argv[-1:] == ["worker"]:
    import json
    import signal
    from collections.abc import Iterator
    from types import FrameType

    from bench.cpu_kind import KINDS, kind_of

    _counts = dict.fromkeys(KINDS, 0)
    _out = os.path.join(os.environ["OMS_BENCH_CPU_SAMPLES"], f"{os.getpid()}.json")

    def _files(frame: FrameType | None) -> Iterator[str]:
        while frame is not None:
            yield frame.f_code.co_filename
            frame = frame.f_back

    def _sample(signum: int, frame: FrameType | None) -> None:
        _counts[kind_of(_files(frame))] += 1

    def _dump(signum: int, frame: FrameType | None) -> None:
        with open(_out + ".tmp", "w") as out:
            json.dump(_counts, out)
        os.replace(_out + ".tmp", _out)

    signal.signal(signal.SIGPROF, _sample)
    signal.signal(signal.SIGUSR2, _dump)
    signal.setitimer(signal.ITIMER_PROF, 0.01, 0.01)
