"""The footprint table of ci/bench (`--only footprint`): per example and architecture,

  min VM    the smallest `--vm-memory` (bisected in 1 MiB steps) at which the app does its job:
            the hellos run to their own exit status; the static-file server (http-server.wasm
            serving a packed `--dir`, reached through `mewz run -p`) answers two HTTP requests
            from the host with the files' exact bytes and then exits 0 (`--max-requests 2`);
  peak      the guest's own peak use as the kernel reports it with -v (kernel heap + mapped app
            pages and their page tables; the kernel image comes on top), and the pages the app
            touched of what it committed (linear memory, stack);
  QEMU      the QEMU process's peak RSS, and its peak private memory (what one more instance
            costs the host: shared libraries are counted once), at the min VM size;

and the static-file server under load at the default machine size (`server_under_load`, also
run alone: `python3 bench/footprint.py --mewz M --examples DIR`): the kernel's heap and socket
buffers' touched pages (-v counters line) and QEMU's RSS at idle, with N connections open, and
once they are closed.
"""
import http.client, os, re, signal, socket, subprocess, tempfile, time

# (example, arguments, expected exit status, goal in MiB).
APPS = [
    ("hello-c", ["7"], 7, 8),
    ("hello-rust", ["7"], 7, 8),
    ("hello-go", ["7"], 7, 16),
]
# The static-file server: its files, where it serves them, its goal.
SERVER, SERVER_GOAL_MIB, SERVER_PORT, SITE_ROOT = "http-server", 16, 8080, "/srv"
SERVER_ARGS = ["--port", str(SERVER_PORT), "--root", SITE_ROOT, "--max-requests", "2"]
TARGETS = ["x86_64", "aarch64"]
# Bisection bounds: QEMU boots no machine below 1 MiB, and nothing here needs 256.
LOWEST_MIB, HIGHEST_MIB = 1, 256
TIMEOUT_S = 120
# Longest a server may take to answer its first request (a TCG boot under load).
SERVER_START_S = 90

REPORT = re.compile(
    r"memory: peak (\d+) KiB in use .*linear memory (\d+) pages touched of (\d+) KiB, "
    r"stack (\d+) pages touched")


def site(work):
    """The served directory: a small index and a 64 KiB file of fixed pseudo-random bytes."""
    root = os.path.join(work, "footprint-site")
    os.makedirs(root, exist_ok=True)
    x, data = 0x9E3779B97F4A7C15, bytearray()
    while len(data) < 64 << 10:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        data += x.to_bytes(8, "little")
    files = {"index.html": b"<!doctype html><title>mewz</title><p>footprint</p>\n",
             "64k.bin": bytes(data)}
    for name, body in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(body)
    return root, files


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def private_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return 0
    kib = lambda k: int(fields.get(k, "0 kB").split()[0])
    return kib("Private_Clean") + kib("Private_Dirty")


class Run:
    """One `mewz run` of an image in a machine of `mib` MiB, its output in files. While it
    runs, QEMU's private memory is sampled (every 10 ms, with `sample`); at its end wait4
    gives the peak RSS of mewz and the QEMU it reaped (QEMU's: mewz itself stays lower)."""

    def __init__(self, mewz, image, mib, args, verbose=False, forward=None, timeout_s=TIMEOUT_S):
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        cmd = [mewz, "run", "--timeout", str(timeout_s)]
        cmd += ["--vm-memory", f"{mib}M"] if mib else []
        cmd += ["-v"] if verbose else []
        cmd += ["-p", forward] if forward else []
        self.proc = subprocess.Popen(cmd + [image] + args,
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
                                     start_new_session=True)
        self.status, self.rss_kib, self.private_kib = None, 0, 0

    def poll(self, sample=False):
        """Whether it has ended (reaping it then)."""
        if self.status is None:
            if sample:
                for child in children(self.proc.pid):
                    self.private_kib = max(self.private_kib, private_kib(child))
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.status, self.rss_kib = os.waitstatus_to_exitcode(status), usage.ru_maxrss
                self.proc.returncode = self.status
        return self.status is not None

    def wait(self, sample=False, limit_s=TIMEOUT_S + 30):
        deadline = time.monotonic() + limit_s
        while not self.poll(sample) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.status is None:
            self.stop()
        return self.status

    def stop(self):
        """Ends mewz run (which ends its QEMU) and whatever is left in its group."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while not self.poll() and time.monotonic() < deadline:
                time.sleep(0.05)

    def text(self):
        self.out.seek(0)
        self.err.seek(0)
        return self.out.read().decode(errors="replace"), self.err.read().decode(errors="replace")


def hello_runs(mewz, image, args, status, mib, verbose=False):
    """A hello's run: whether it ran to `status`, and the Run."""
    r = Run(mewz, image, mib, args, verbose)
    r.wait(sample=verbose)
    out, _ = r.text()
    return r.status == status and out.endswith(f"exit: {status}\n"), r


def fetch(port, path, limit_s):
    """The body of GET `path`, or None (refused, reset, or not a 200) until the deadline."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=limit_s)
        # One request per connection: the server's count of responses ends it (a kept-alive
        # connection would wait for its idle timeout).
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read()
        c.close()
        return body if r.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None


def server_runs(mewz, image, files, mib, verbose=False):
    """The server's run: whether it answered every file with its bytes and then exited 0."""
    port = free_port()
    r = Run(mewz, image, mib, [], verbose, forward=f"127.0.0.1:{port}:{SERVER_PORT}")
    pending = dict(files)
    deadline = time.monotonic() + SERVER_START_S
    while pending and not r.poll(verbose) and time.monotonic() < deadline:
        name, body = next(iter(pending.items()))
        # User networking accepts for the guest before it listens: a refusal comes as a reset.
        got = fetch(port, "/" + name, 30)
        if got is None:
            time.sleep(0.2)
            continue
        if got != body:
            break
        del pending[name]
    if pending:
        r.stop()
        return False, r
    r.wait(sample=verbose, limit_s=30)
    return r.status == 0, r


def smallest_machine(runs_in, start_mib):
    """The smallest machine, in whole MiB, `runs_in(mib)` holds for (None: not even the largest)."""
    hi = start_mib
    while not runs_in(hi):
        if hi >= HIGHEST_MIB:
            return None
        hi = min(2 * hi, HIGHEST_MIB)
    lo = LOWEST_MIB - 1  # known (or taken) not to run
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if runs_in(mid):
            hi = mid
        else:
            lo = mid
    return hi


def row(name, target, goal, least, measure):
    if least is None:
        return f"{name:<11} {target:<8} {'> ' + str(HIGHEST_MIB):>7}  (goal {goal} MiB: MISSED)"
    mark = "ok" if least <= goal else "MISSED"
    ok, run = measure(least)
    report = REPORT.search(run.text()[1]) if ok else None
    if report:
        peak, lin_pages, lin_kib, stack_pages = (int(g) for g in report.groups())
        peak_s, linear, stack = f"{peak} KiB", f"{lin_pages * 4} / {lin_kib} KiB", f"{stack_pages * 4} KiB"
    else:
        peak_s, linear, stack = "n/a", "n/a", "n/a"
    return (f"{name:<11} {target:<8} {least:>5} M {f'<= {goal} M: {mark}':>16} {peak_s:>9} "
            f"{linear:>25} {stack:>7} {run.rss_kib / 1024:7.1f} M {run.private_kib / 1024:6.1f} M")


def footprint(work, mewz, examples, skip_go):
    print("\n## footprint (smallest --vm-memory in 1 MiB steps; the guest's peak use from the kernel's"
          " -v report; QEMU's peak RSS and private memory at that size)")
    print(f"{'example':<11} {'target':<8} {'min VM':>7} {'goal':>16} {'peak use':>9} "
          f"{'linear touched/committed':>25} {'stack':>7} {'QEMU RSS':>9} {'private':>8}")
    for name, args, status, goal in APPS:
        if skip_go and name == "hello-go":
            continue
        wasm = os.path.join(examples, name + ".wasm")
        for target in TARGETS:
            image = os.path.join(work, f"{name}.{target}.footprint.img")
            subprocess.run([mewz, "build", "--target", target, wasm, "-o", image], check=True,
                           capture_output=True)
            least = smallest_machine(lambda mib: hello_runs(mewz, image, args, status, mib)[0], goal)
            print(row(name, target, goal, least,
                      lambda mib: hello_runs(mewz, image, args, status, mib, verbose=True)), flush=True)
    subprocess.run(["bash", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         "examples", "build.sh"), examples, "net"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, files = site(work)
    wasm = os.path.join(examples, SERVER + ".wasm")
    for target in TARGETS:
        image = os.path.join(work, f"{SERVER}.{target}.footprint.img")
        subprocess.run([mewz, "build", "--target", target, wasm, "--dir", f"{root}::{SITE_ROOT}",
                        "-o", image, "--"] + SERVER_ARGS, check=True, capture_output=True)
        # A probe can fail for reasons other than memory on a loaded host (a request that timed
        # out on the client but was answered, and counted, by the server): a size counts as too
        # small when it fails twice.
        least = smallest_machine(lambda mib: any(server_runs(mewz, image, files, mib)[0]
                                                 for _ in range(2)), SERVER_GOAL_MIB)
        print(row(SERVER, target, SERVER_GOAL_MIB, least,
                  lambda mib: server_runs(mewz, image, files, mib, verbose=True)), flush=True)
    server_under_load(work, mewz, examples)


# The server under load: its memory at idle, with LOAD_CONNECTIONS keep-alive connections open
# (each having fetched a file), and at idle again once they are closed, at the default machine
# size. The kernel's counters line (-v) gives the heap and the socket buffers' touched pages.
LOAD_CONNECTIONS = 256
COUNTERS = re.compile(r"net: sockets app (\d+) stack (\d+), heap (\d+) KiB in use"
                      r"(?:, buffers (\d+) KiB touched)?")


def last_counters(run):
    found = COUNTERS.findall(run.text()[1])
    return found[-1] if found else None


def settled(run, app_sockets, quiet_s=3, limit_s=120):
    """The counters once they show `app_sockets` and have not changed for `quiet_s`."""
    deadline, last, since = time.monotonic() + limit_s, None, time.monotonic()
    while time.monotonic() < deadline and not run.poll():
        now = last_counters(run)
        if now != last:
            last, since = now, time.monotonic()
        elif now and int(now[0]) == app_sockets and time.monotonic() - since >= quiet_s:
            return now
        time.sleep(0.2)
    return last


def qemu_rss_kib(run):
    for child in children(run.proc.pid):
        try:
            with open(f"/proc/{child}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
    return 0


def load_row(target, phase, counters, rss):
    if counters is None:
        return f"{target:<8} {phase:<24} (no counters line)"
    app, _stack, heap, buffers = counters
    return (f"{target:<8} {phase:<24} {app:>9} {int(heap):>9} KiB {buffers or '-':>9} KiB "
            f"{rss / 1024:8.1f} M")


def server_under_load(work, mewz, examples, targets=TARGETS, connections=LOAD_CONNECTIONS):
    print(f"\n## the static-file server's memory under load (default --vm-memory, {connections}"
          " keep-alive connections through -p, each fetching a file; -v counters and QEMU's RSS)")
    print(f"{'target':<8} {'phase':<24} {'app socks':>9} {'heap':>13} {'buffers':>13} {'QEMU RSS':>10}")
    root, files = site(work)
    wasm = os.path.join(examples, SERVER + ".wasm")
    for target in targets:
        image = os.path.join(work, f"{SERVER}.{target}.load.img")
        subprocess.run([mewz, "build", "--target", target, wasm, "--dir", f"{root}::{SITE_ROOT}",
                        "-o", image, "--", "--port", str(SERVER_PORT), "--root", SITE_ROOT],
                       check=True, capture_output=True)
        port = free_port()
        run = Run(mewz, image, None, [], verbose=True, forward=f"127.0.0.1:{port}:{SERVER_PORT}",
                  timeout_s=600)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while fetch(port, "/index.html", 30) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            print(load_row(target, "idle", settled(run, 1), qemu_rss_kib(run)), flush=True)
            open_ = []
            for _ in range(connections):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", "/index.html")
                r = c.getresponse()
                if r.status != 200 or r.read() != files["index.html"]:
                    raise RuntimeError("a wrong answer under load")
                open_.append(c)
            print(load_row(target, f"{connections} connections open",
                           settled(run, 1 + connections), qemu_rss_kib(run)), flush=True)
            for c in open_:
                c.close()
            print(load_row(target, "closed, idle again", settled(run, 1), qemu_rss_kib(run)),
                  flush=True)
        finally:
            run.stop()


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description="The static-file server's memory under load "
                                            "(the rest of the footprint table runs in ci/bench).")
    p.add_argument("--mewz", required=True, help="the mewz binary to measure")
    p.add_argument("--examples", required=True, help="where examples/build.sh put the examples")
    p.add_argument("--target", action="append", choices=TARGETS)
    p.add_argument("--connections", type=int, default=LOAD_CONNECTIONS)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        server_under_load(work, a.mewz, a.examples, a.target or TARGETS, a.connections)
