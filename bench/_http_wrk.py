"""The closed loop driven by wrk (Debian's `wrk`, C) instead of the Python client.

Every ratio is taken against pgbench, whose client is a C program: on the same two cores it
costs 0.09-0.10 ms of CPU per request it stands for (session 11, printed by every run as
"pgbench's own"). The Python asyncio client of bench/_http_load.py cost 0.14-0.15 ms a request,
half as much again, and that CPU is taken from the server under test. wrk, one thread and one
keep-alive connection per client, is a load generator of pgbench's kind (its CPU is printed as
"client").

The requests are the Python client's: the same mix, rounds, ids and signatures, built here
before the run (`Round`, `Step`, `Provider.pick`) and written one file per client. A client's
connection sends its file's requests in order, one at a time, so a round's result follows its
bet on the same connection as with the Python client. Each request carries whether its answer
must be an error (a declined bet); wrk's Lua checks each answer against that and reports the
mismatches with a sample of the answers.

The paced phases (`run_paced`) use the same files: each client sends one request every
`interval` seconds, at due times spread evenly over the clients. wrk's Lua `delay()` holds each
request until it is due (wrk's timer counts whole ms: it goes 0-2 ms late), and LuaJIT's FFI reads
CLOCK_MONOTONIC (Python's `perf_counter`) so that a latency counts from the moment the request
was due, as the Python client's does: a request due while the previous one was still
unanswered waits, and that wait is counted. The Python client cost ~0.3 ms of CPU a paced
request on the same 2 cores (session 18, bench/_http_trace.py); wrk costs what pgbench does.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench._http_load import Provider, Round, Stats, request_of

WRK = shutil.which("wrk")
SEPARATOR = b"\x1e"  # ASCII record separator: never in a JSON body or an HTTP head

# One thread per client, one connection per thread (so its requests go in file order). Each
# answer is an error (not 200, or a JSON body whose "error" is a string) or not; the request's first
# byte says which it must be.
# What both scripts share: each thread's number, its client's requests and their marks, and
# whether an answer is an error.
LUA_COMMON = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function load_requests(folder)
  local f = assert(io.open(folder .. "/client_" .. id .. ".req", "rb"))
  local data = f:read("*a")
  f:close()
  reqs, expect = {}, {}
  for record in data:gmatch("([^\30]+)") do
    table.insert(expect, record:sub(1, 1) == "E")
    table.insert(reqs, record:sub(2))
  end
end
function start_up_check()
  -- wrk asks the first thread's request() once more before the run, to check that it parses
  -- (script_verify_request): that call must not use up a request.
  if verifying then
    verifying = false
    return true
  end
  return false
end
function is_error(status, body)
  return status ~= 200 or (body and body:find('"error":%s*"') ~= nil)
end
"""

LUA = (
    LUA_COMMON
    + r"""
function init(args)
  load_requests(args[1])
  sent, answered, mismatched, exhausted, sample = 0, 0, 0, 0, ""
  verifying = id == 0  -- start_up_check()
end
function request()
  if start_up_check() then return reqs[1] end
  if sent >= #reqs then  -- stop; the request asked for meanwhile repeats the last one
    exhausted = 1
    wrk.thread:stop()
    return reqs[#reqs]
  end
  sent = sent + 1
  return reqs[sent]
end
function response(status, headers, body)
  answered = answered + 1
  if answered <= #expect and is_error(status, body) ~= expect[answered] then
    mismatched = mismatched + 1
    if #sample < 600 then sample = sample .. " | " .. status .. " " .. (body or ""):sub(1, 160) end
  end
end
function done(summary, latency, requests)
  local answered_all, mismatched_all, exhausted_all = 0, 0, 0
  for _, t in ipairs(threads) do
    local n = t:get("answered")
    answered_all = answered_all + n
    mismatched_all = mismatched_all + t:get("mismatched")
    exhausted_all = exhausted_all + t:get("exhausted")
    local s = t:get("sample")
    if s ~= "" then io.write("SAMPLE", s, "\n") end
  end
  io.write(string.format("RESULT answered=%d mismatched=%d exhausted=%d duration_us=%d p50_us=%d p99_us=%d"
    .. " connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    answered_all, mismatched_all, exhausted_all, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""
)


def available() -> bool:
    return WRK is not None


def write_requests(provider: Provider, clients: int, seeded: dict, per_client: int, folder: Path, seed: str,
                   decline_share: float) -> None:  # fmt: skip
    """`per_client` requests for each client, built as bench/_http_load.client_loop builds them
    (`client_<n>.req`), and each request's kind, one a line (`client_<n>.kinds`, for the paced
    phases' figures by kind)."""
    folder.mkdir(parents=True, exist_ok=True)
    for cid in range(clients):
        rnd = random.Random(f"{cid}-{seed}")
        records: list[bytes] = []
        kinds: list[str] = []
        while len(records) < per_client:
            this = Round(rnd, rnd.randrange(seeded["players"]), seeded)
            steps = []
            if provider.decline is not None and decline_share and rnd.random() < decline_share:
                steps.extend(provider.decline.steps)
            steps.extend(provider.pick(rnd).steps)
            for step in steps:
                method, path, body = request_of(step, this)
                name, value = provider.sign(body)
                head = (
                    f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n{name}: {value}\r\n\r\n"
                ).encode()
                records.append((b"E" if step.expect_error else b"O") + head + body)
                kinds.append(step.kind)
        (folder / f"client_{cid}.req").write_bytes(SEPARATOR.join(records[:per_client]))
        (folder / f"client_{cid}.kinds").write_text("\n".join(kinds[:per_client]) + "\n")


_RESULT = re.compile(rb"RESULT (.*)")


def _wrk(lua: str, port: int, folder: Path, clients: int, seconds: int, *args: str) -> tuple[str, dict[str, int]]:
    """wrk with script `lua` for `seconds`, one thread and connection per client, `folder` and
    `args` passed to the script; its output and the figures of its RESULT line."""
    script = folder / "script.lua"
    script.write_text(lua)
    # --timeout: a request waiting this long is counted, not silently dropped (wrk's default 2 s).
    out = subprocess.run(
        [WRK, "-t", str(clients), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "30s", "-s", str(script),
         f"http://127.0.0.1:{port}/", "--", str(folder), *args],
        capture_output=True, check=False,
    )  # fmt: skip
    found = _RESULT.search(out.stdout)
    if out.returncode != 0 or found is None:
        raise SystemExit(
            f"wrk failed ({out.returncode}):\n{out.stdout.decode()[-2000:]}\n{out.stderr.decode()[-2000:]}"
        )
    return out.stdout.decode(), {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).decode().split())}


def run(port: int, folder: Path, clients: int, seconds: float) -> dict:
    """wrk for `seconds` against the server; its figures (latencies in ms)."""
    text, figures = _wrk(LUA, port, folder, clients, round(seconds))
    samples = [line[6:] for line in text.splitlines() if line.startswith("SAMPLE")]
    return {**figures, "samples": samples}


# The paced phases: one request per `interval` on each connection, held until due; each answer's
# latency from its due time (LuaJIT's FFI: CLOCK_MONOTONIC, which Python's perf_counter reads).
LUA_PACED = (
    LUA_COMMON
    + r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } tl_timespec;
int clock_gettime(int clock, tl_timespec *now);
]]
local clock = ffi.new("tl_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end
function init(args)
  load_requests(args[1])
  kinds = {}
  for line in io.lines(args[1] .. "/client_" .. id .. ".kinds") do table.insert(kinds, line) end
  start, interval, clients, stop = tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
  due = start + interval * id / clients  -- the clients' due times spread evenly
  sent, exhausted, sample, log = 0, 0, "", {}
  verifying = id == 0  -- start_up_check()
end
function delay()
  local wait = (due - now()) * 1000
  if wait <= 0 then return 0 end
  -- wrk's timer counts whole ms of a clock read to the ms, so it can fire up to 1 ms before the
  -- delay asked: one ms more, so that a request is never sent early (it goes 0-2 ms late, and
  -- that lateness counts in its latency, as the Python client's sleep's does).
  return math.ceil(wait) + 1
end
function request()
  if start_up_check() then return reqs[1] end
  if due > stop then  -- the phase is over: nothing due later is counted
    wrk.thread:stop()
    return reqs[math.max(sent, 1)]
  end
  if sent >= #reqs then
    exhausted = 1
    wrk.thread:stop()
    return reqs[#reqs]
  end
  sent = sent + 1
  sent_due = due
  due = due + interval
  return reqs[sent]
end
function response(status, headers, body)
  local answered = now()
  if sent == 0 or sent > #reqs then return end
  local wrong = 0
  if is_error(status, body) ~= expect[sent] then
    wrong = 1
    if #sample < 600 then sample = sample .. " | " .. status .. " " .. (body or ""):sub(1, 160) end
  end
  log[#log + 1] = string.format("%s\t%.6f\t%.3f\t%d", kinds[sent], sent_due - start, (answered - sent_due) * 1000, wrong)
end
function done(summary, latency, requests)
  local exhausted_all = 0
  for _, t in ipairs(threads) do
    exhausted_all = exhausted_all + t:get("exhausted")
    local s = t:get("sample")
    if s ~= "" then io.write("SAMPLE", s, "\n") end
    local l = t:get("log")
    for i = 1, #l do io.write("L\t", l[i], "\n") end
  end
  io.write(string.format("RESULT exhausted=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    exhausted_all, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""
)


def run_paced(port: int, folder: Path, clients: int, warmup: float, duration: float, rate: float) -> Stats:
    """wrk paced at `rate` requests/s over `clients` connections, on the requests in `folder`;
    what was due after `warmup` and answered within `duration` after it is counted, as by
    bench/_http_load.client_loop (latency from the moment each request was due)."""
    interval = clients / rate
    lead = 0.3  # wrk's threads read their files and connect before the first request is due
    start = time.perf_counter() + lead
    stop = start + warmup + duration
    # wrk's duration is whole seconds: the clients stop themselves once their next request would
    # be due after `stop`; the duration only bounds a run whose answers never come.
    seconds = math.ceil(lead + warmup + duration) + 2
    text, figures = _wrk(LUA_PACED, port, folder, clients, seconds, f"{start:.6f}", f"{interval:.9f}", str(clients),
                         f"{stop:.6f}")  # fmt: skip
    stats = Stats()
    stats.started = start
    stats.reconnects = clients  # one keep-alive connection each, for the whole phase
    for line in text.splitlines():
        if line.startswith("L\t"):  # tabs: a kind's name may hold spaces ("settle won")
            _, kind, due, ms, wrong = line.split("\t")
            stats.sent += 1
            at, latency = float(due), float(ms)
            if at >= warmup and at + latency / 1000 <= warmup + duration:
                stats.add(kind, latency, at)
                if wrong == "1":
                    key = f"{kind}: unexpected answer"
                    stats.errors[key] = stats.errors.get(key, 0) + 1
        elif line.startswith("SAMPLE"):
            print(f"      wrk sample of unexpected answers:{line[6:]}", flush=True)
    if figures["exhausted"]:
        raise SystemExit(f"wrk: {figures['exhausted']} paced clients ran out of prepared requests")
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    if errors:
        stats.errors["socket errors or timeouts"] = errors
    return stats


def prepare_paced(provider: Provider, clients: int, seeded: dict, decline_share: float, seconds: float,
                  rate: float) -> Path:  # fmt: skip
    """A folder of requests for a paced phase of `seconds` at `rate` (fresh ids: a folder's own seed)."""
    folder = Path(tempfile.mkdtemp(prefix=f"wrk_paced_{provider.name}_"))
    per_client = int(rate * seconds / clients) + 50
    write_requests(provider, clients, seeded, per_client, folder, str(folder), decline_share)
    return folder


class WrkLoop:
    """The closed loop's warm-up and measured run, each on requests of its own, built by
    `prepare` before the CPU meter starts (building them is not the load generator's work)."""

    def __init__(self, provider: Provider, clients: int, seeded: dict, decline_share: float) -> None:
        self.provider, self.clients, self.seeded, self.decline_share = provider, clients, seeded, decline_share
        self.folder = Path(tempfile.mkdtemp(prefix=f"wrk_{provider.name}_"))
        self.runs = 0

    def prepare(self, warmup: float, duration: float, ceiling_rps: float) -> None:
        """`ceiling_rps` (pgbench's rate) bounds how many requests a client can need: the server
        stays below 60% of it, and a client gets eight times its fair share of that (a client
        alone on a worker runs ahead of the others: four times was once not enough)."""
        self.phases = []
        for phase, seconds in (("warm-up", warmup), ("measured", duration)):
            self.runs += 1
            per_client = int(ceiling_rps * 0.6 * seconds / max(self.clients, 1) * 8) + 200
            folder = self.folder / f"run{self.runs}"
            write_requests(self.provider, self.clients, self.seeded, per_client, folder, f"{self.runs}-{self.folder}",
                           self.decline_share)  # fmt: skip
            self.phases.append((phase, seconds, folder))

    def closed_loop(self, port: int) -> tuple[Stats, dict]:
        stats = Stats()
        figures: dict = {}
        for phase, seconds, folder in self.phases:
            result = run(port, folder, self.clients, seconds)
            shutil.rmtree(folder, ignore_errors=True)
            stats.sent += result["answered"]
            if result["exhausted"]:
                # They stopped early: the run's rate is understated, never overstated.
                print(f"      wrk: {result['exhausted']} clients ran out of prepared requests ({phase}): the rate"
                      " is understated; raise the count in bench/_http_wrk.py", flush=True)  # fmt: skip
            figures = result
        errors = figures["mismatched"] + sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors"))
        if errors:
            stats.errors["unexpected answers or socket errors"] = errors
            for sample in figures["samples"]:
                print(f"      wrk sample of unexpected answers:{sample}", flush=True)
        return stats, figures

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
