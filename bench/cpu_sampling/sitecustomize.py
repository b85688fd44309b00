"""On-CPU samples of a `ccxt-oms worker` started by a benchmark with this directory first on
PYTHONPATH and `OMS_BENCH_CPU_SAMPLES` naming a directory (bench/wire.py, bench/p15_fill_booked.py):
every 10 ms of the process's CPU time (`ITIMER_PROF`: user + system, so time spent runnable but
preempted on a loaded machine is never counted, as it is by a wall-clock sampler), the stack that
was running is counted by whose work it is (bench/cpu_kind.py), and beside it each function on
the stack counted once per sample
(inclusive: `module:function` of the gateway's, CCXT's, SQLAlchemy's and the drivers' frames),
so that the benchmark can say where the worker's CPU goes. SIGUSR2 writes both to
`<dir>/<pid>.json` (the kinds) and `<dir>/<pid>.functions.json`. Any other process, or without
the variable, it does nothing."""

import os
import sys

if os.environ.get("OMS_BENCH_CPU_SAMPLES") and sys.argv[-1:] in (["worker"], ["api"]):
    import json
    import signal
    from types import FrameType

    from bench.cpu_kind import KINDS, kind_of

    _counts = dict.fromkeys(KINDS, 0)
    _functions: dict[str, int] = {}
    _out = os.path.join(os.environ["OMS_BENCH_CPU_SAMPLES"], f"{os.getpid()}.json")
    _PACKAGES = (
        "/apps/",
        "/ccxt/",
        "/sqlalchemy/",
        "/aiomysql/",
        "/pymysql/",
        "/asyncmy/",
        "/aiohttp/",
        "/asyncio/",
        "/fastapi/",
        "/starlette/",
        "/uvicorn/",
        "/pydantic/",
    )

    def _name(path: str, function: str) -> str | None:
        for package in _PACKAGES:
            at = path.rfind(package)
            if at >= 0:
                return f"{path[at + 1 :].removesuffix('.py')}:{function}"
        return None

    def _sample(signum: int, frame: FrameType | None) -> None:
        files, names = [], set()
        if frame is not None:  # the innermost frame: where the CPU went itself
            leaf = f"self:{frame.f_code.co_filename.rsplit('/', 2)[-2:]}:{frame.f_code.co_name}"
            _functions[leaf] = _functions.get(leaf, 0) + 1
        while frame is not None:
            code = frame.f_code
            files.append(code.co_filename)
            name = _name(code.co_filename, code.co_name)
            if name is not None:
                names.add(name)
            frame = frame.f_back
        _counts[kind_of(files)] += 1
        for name in names:
            _functions[name] = _functions.get(name, 0) + 1
        _functions["<all>"] = _functions.get("<all>", 0) + 1

    def _dump(signum: int, frame: FrameType | None) -> None:
        # the kinds last: bench/wire.py's reader waits for that file to change
        for path, data in (
            (_out.removesuffix(".json") + ".functions.json", _functions),
            (_out, _counts),
        ):
            data = dict(data)  # one C-level copy: a sample may add a key while this writes
            with open(path + ".tmp", "w") as out:
                json.dump(data, out)
            os.replace(path + ".tmp", path)

    signal.signal(signal.SIGPROF, _sample)
    signal.signal(signal.SIGUSR2, _dump)
    signal.setitimer(signal.ITIMER_PROF, 0.01, 0.01)
