"""The rounds: every contender booted, checked and loaded once per round, the contenders of a
round one after the other (so that a slow phase of the shared machine hits them alike)."""
import os, resource, sys, time
from dataclasses import dataclass, field

from . import artefacts as A
from .load import Broken, check_answers, cold_start, wrk
from .machine import START_LIMIT_S, Machine, free_port, linux_command, machine_config, mewz_command


@dataclass(frozen=True)
class Load:
    name: str
    threads: int
    connections: int
    path: str


# The paper's load first: its ratio is the headline.
LOADS = [
    Load("16x800 1KiB", 16, 800, "/" + A.INDEX),
    Load("2x64 1KiB", 2, 64, "/" + A.INDEX),
    Load("2x64 64KiB", 2, 64, "/" + A.LARGE),
]
HEADLINE = LOADS[0].name
CONTENDERS = ["mewz", "linux-wasmtime", "linux-native"]
WARMUP_S = 3
# A request unanswered this long counts as an error (wrk's default, 2 s, is shorter than the
# tail of a TCG guest under 800 connections: slow is measured, not called broken).
WRK_TIMEOUT_S = 10


@dataclass
class Contender:
    arch: A.Arch
    name: str
    command: object  # port -> QEMU (or mewz run) command line
    linux: bool
    image_bytes: int
    image: str  # what the image is, for the report
    broken: str = None
    cold: list = field(default_factory=list)
    loads: dict = field(default_factory=dict)  # load name -> [wrk result per round]
    memory_kib: list = field(default_factory=list)
    rss_kib: list = field(default_factory=list)


def prepare(arch, wasm, site_dir):
    """The three contenders of an architecture, their artefacts built; one that cannot be
    built is there, broken, with the reason."""
    A.log(f"{arch.name}: building the images")
    site_files = [(os.path.join(site_dir, n), f"{A.SITE_ROOT}/{n}") for n in (A.INDEX, A.LARGE)]
    listen = f"0.0.0.0:{A.GUEST_PORT}"
    timeout = START_LIMIT_S + 600

    def mewz():
        img = A.mewz_image(arch, wasm, site_dir)
        return (lambda port: mewz_command(img, port, timeout)), os.path.getsize(img), "image (kernel, app, files)"

    def linux(kind):
        kernel, modules_dir, _version = A.linux_kernel(arch)
        modules = A.nic_modules(arch, modules_dir, A.profile(arch)["nic"])
        files = [(A.guest_init(arch), "/init")] + site_files
        if kind == "wasmtime":
            wasmtime = A.wasmtime_for(arch)
            files += A.shared_libraries(arch, wasmtime) + [
                (wasmtime, "/bin/wasmtime"), (A.precompiled(arch, wasm), f"/app/{A.SERVER}.cwasm")]
            args = ["/bin/wasmtime", "run", "-S", "preview2=n", "-S", f"tcplisten={listen}",
                    "--dir", f"{A.SITE_ROOT}::{A.SITE_ROOT}", "--allow-precompiled",
                    f"/app/{A.SERVER}.cwasm", "--root", A.SITE_ROOT]
        else:
            files += [(A.native_server(arch), f"/bin/{A.SERVER}")]
            args = ["--listen", listen, f"/bin/{A.SERVER}", "--root", A.SITE_ROOT]
        initrd = A.initramfs(arch, kind, files, modules)
        return ((lambda port: linux_command(arch, kernel, initrd, args, port)),
                os.path.getsize(kernel) + os.path.getsize(initrd), "kernel + initramfs")

    contenders = []
    for name, build, is_linux in [("mewz", mewz, False),
                                  ("linux-wasmtime", lambda: linux("wasmtime"), True),
                                  ("linux-native", lambda: linux("native"), True)]:
        try:
            command, size, what = build()
            contenders.append(Contender(arch, name, command, is_linux, size, what))
        except RuntimeError as e:
            A.log(f"{arch.name} {name}: BROKEN: cannot build it: {e}")
            contenders.append(Contender(arch, name, None, is_linux, 0, "-", broken=f"cannot build it: {e}"))
    return contenders


def one_round(c, files, seconds, reference):
    """Boots c, measures it, stops it; a failure marks c broken with the reason."""
    port = free_port()
    m = Machine(c.command(port), port, c.linux)
    try:
        c.cold.append(cold_start(port, "/" + A.INDEX, m.started, m.alive, START_LIMIT_S))
        config = machine_config(m.qemu_argv())
        reference.setdefault(c.arch.name, (c.name, config))
        ref_name, ref = reference[c.arch.name]
        if config != ref:
            diff = {k: (ref.get(k), config.get(k)) for k in set(ref) | set(config) if ref.get(k) != config.get(k)}
            raise SystemExit(f"http: {c.name} and {ref_name} ran on different machines: {diff}")
        check_answers(port, files)
        for load in LOADS:
            wrk(port, load.path, load.threads, load.connections, WARMUP_S, WRK_TIMEOUT_S)
            main0, other0 = m.qemu_cpu_s()
            host0, wrk0, t0 = host_busy_s(), children_cpu_s(), time.monotonic()
            r = wrk(port, load.path, load.threads, load.connections, seconds, WRK_TIMEOUT_S)
            main1, other1 = m.qemu_cpu_s()
            host1, wrk1, t1 = host_busy_s(), children_cpu_s(), time.monotonic()
            # The rest of the host's load meanwhile (other users of the machine), in cores.
            ours = (main1 - main0) + (other1 - other0) + (wrk1 - wrk0)
            r["others_cores"] = max(0.0, (host1 - host0) - ours) / (t1 - t0)
            # Host CPU per request, in microseconds: what the machine costs the host, steadier
            # than requests/s on a shared host (a slow phase stretches time, not work).
            r["vcpu_us"] = (other1 - other0) / max(r["requests"], 1) * 1e6
            r["io_us"] = (main1 - main0) / max(r["requests"], 1) * 1e6
            if r["errors"]:
                raise Broken(f"{load.name}: errors under load: {r['errors']} in {r['requests']} requests")
            c.loads.setdefault(load.name, []).append(r)
        check_answers(port, files)  # still right after the load
        c.memory_kib.append(m.memory_in_use_kib())
        c.rss_kib.append(m.qemu_rss_kib())
        A.log(f"{c.arch.name} {c.name}: cold start {c.cold[-1]:.2f} s, "
              + ", ".join(f"{n} {rs[-1]['rps']:.0f} req/s" for n, rs in c.loads.items()))
    except Broken as e:
        c.broken = str(e)
        tail = "\n    ".join(m.output(last=15))
        A.log(f"{c.arch.name} {c.name}: BROKEN: {e}\n  its console's last lines:\n    {tail}")
    finally:
        m.stop()


def host_busy_s():
    """CPU seconds the whole host has spent busy (every core, every process) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    """CPU seconds of this script's finished children (wrk)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(arches, rounds, seconds):
    site_dir, files = A.site()
    A.log("building the server's .wasm")
    wasm = A.server_wasm()
    contenders = [c for a in arches for c in prepare(A.ARCHES[a], wasm, site_dir)]
    reference = {}
    started = time.monotonic()
    for r in range(rounds):
        A.log(f"round {r + 1} of {rounds} ({time.monotonic() - started:.0f} s so far)")
        for c in contenders:
            if not c.broken:
                one_round(c, files, seconds, reference)
    machines = {a: cfg for a, (_, cfg) in reference.items()}
    return contenders, machines
