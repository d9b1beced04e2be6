"""The footprint table of ci/bench (`--only footprint`): per example and architecture,

  min VM    the smallest `--vm-memory` (bisected in 1 MiB steps) at which the app runs to its
            own exit status, against the goal;
  peak      the guest's own peak use as the kernel reports it with -v (kernel heap + mapped app
            pages and their page tables; the kernel image comes on top), and the pages the app
            touched of what it committed (linear memory, stack);
  QEMU      the QEMU process's peak RSS, and its peak private memory (what one more instance
            costs the host: shared libraries are counted once), at the min VM size.
"""
import os, re, subprocess, time

# (example, arguments, expected exit status, goal in MiB). The static-file server joins once its
# example lands (http-server.wasm, from the network examples): its probe is not an exit status
# but one request answered from the host while it runs (see `server_row`); goal 16 MiB.
APPS = [
    ("hello-c", ["7"], 7, 8),
    ("hello-rust", ["7"], 7, 8),
    ("hello-go", ["7"], 7, 16),
]
SERVER_GOAL_MIB = 16
TARGETS = ["x86_64", "aarch64"]
# Bisection bounds: QEMU boots no machine below 1 MiB, and nothing here needs 256.
LOWEST_MIB, HIGHEST_MIB = 1, 256

REPORT = re.compile(
    r"memory: peak (\d+) KiB in use .*linear memory (\d+) pages touched of (\d+) KiB, "
    r"stack (\d+) pages touched")


def runs_in(mewz, image, args, status, mib):
    """Whether the app runs to `status` in a machine of `mib` MiB."""
    r = subprocess.run([mewz, "run", "--timeout", "120", "--vm-memory", f"{mib}M", image] + args,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return r.returncode == status and r.stdout.endswith(f"exit: {status}\n")


def smallest_machine(mewz, image, args, status, start_mib):
    """The smallest machine, in whole MiB, the app runs in (None: not even the largest)."""
    hi = start_mib
    while not runs_in(mewz, image, args, status, hi):
        if hi >= HIGHEST_MIB:
            return None
        hi = min(2 * hi, HIGHEST_MIB)
    lo = LOWEST_MIB - 1  # known (or taken) not to run
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if runs_in(mewz, image, args, status, mid):
            hi = mid
        else:
            lo = mid
    return hi


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


def measured_run(mewz, image, args, mib):
    """One verbose run: the kernel's report line and QEMU's peak private memory in KiB
    (sampled every 10 ms while it runs)."""
    cmd = [mewz, "run", "-v", "--timeout", "120", "--vm-memory", f"{mib}M", image] + args
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    private = 0
    while proc.poll() is None:
        for child in children(proc.pid):
            private = max(private, private_kib(child))
        time.sleep(0.01)
    return REPORT.search(proc.stderr.read()), private


def rss_kib(mewz, image, args, mib):
    """Peak RSS of one run in KiB: wait4 gives the most of mewz and the QEMU it reaped (QEMU's;
    mewz itself stays lower)."""
    proc = subprocess.Popen([mewz, "run", "--timeout", "120", "--vm-memory", f"{mib}M", image] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss


def server_row():
    """The static-file server's row. Pending until http-server.wasm is among the examples; then
    `runs_in` becomes: start it with a port forwarded (`mewz run -p`) and a directory to serve,
    fetch one file from the host, compare it, stop the machine; the rest of the row as above."""
    return (f"{'http-server':<11} {'both':<8} {'pending: the static-file server example':>41}"
            f"  (goal {SERVER_GOAL_MIB} MiB)")


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
            least = smallest_machine(mewz, image, args, status, goal)
            if least is None:
                print(f"{name:<11} {target:<8} {'> ' + str(HIGHEST_MIB):>7}  (goal {goal} MiB: MISSED)")
                continue
            mark = "ok" if least <= goal else "MISSED"
            report, private = measured_run(mewz, image, args, least)
            rss = rss_kib(mewz, image, args, least)
            if report:
                peak, lin_pages, lin_kib, stack_pages = (int(g) for g in report.groups())
                peak_s = f"{peak} KiB"
                linear = f"{lin_pages * 4} / {lin_kib} KiB"
                stack = f"{stack_pages * 4} KiB"
            else:
                peak_s, linear, stack = "n/a", "n/a", "n/a"
            print(f"{name:<11} {target:<8} {least:>5} M {f'<= {goal} M: {mark}':>16} {peak_s:>9} "
                  f"{linear:>25} {stack:>7} {rss / 1024:7.1f} M {private / 1024:6.1f} M")
    print(server_row())
