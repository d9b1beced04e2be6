"""Booting a contender and talking to it: the QEMU command lines (mewz's own runner for mewz, the
same machine built from the same profile for the Linux VM), the console, memory, shutdown, and
the check that every contender of an architecture ran on the same QEMU machine."""
import os, re, shutil, signal, socket, subprocess, threading, time

from .artefacts import GUEST_PORT, MEWZ, profile

NETDEV_ID = "mewznet"  # as cli/src/network.rs names it
GUEST_ADDR = "10.0.2.15/24"  # QEMU user networking's guest address
# Longest a machine may take to answer its first request (TCG boots of Linux take ~10 s).
START_LIMIT_S = 120
# The options that make the machine: they must be the same for every contender of an arch.
MACHINE_OPTIONS = ("-accel", "-M", "-machine", "-cpu", "-m", "-smp", "-bios")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def linux_command(arch, kernel, initrd, init_args, port):
    """QEMU for the Linux VM: the profile's binary and machine, its NIC on user networking with
    the same forwarding as `mewz run -p`, the console on stdio."""
    q = profile(arch)
    cmdline = f"console={arch.console} quiet panic=-1 -- --ip {GUEST_ADDR} " + " ".join(init_args)
    return [q["binary"], "-accel", "tcg", *q["args"], "-display", "none", "-monitor", "none",
            "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-serial", "stdio",
            "-netdev", f"user,id={NETDEV_ID},hostfwd=tcp:127.0.0.1:{port}-:{GUEST_PORT}",
            "-device", f"{q['nic']},netdev={NETDEV_ID}"]


def mewz_command(image, port, timeout_s):
    # -v: the kernel's log (its memory line) on stderr.
    return [MEWZ, "run", "-v", "-p", f"127.0.0.1:{port}:{GUEST_PORT}", "--timeout", str(timeout_s), image]


class Machine:
    """A booted contender. Its console output is collected as it comes (QEMU never blocks on
    a full pipe); stop() ends it and everything it started."""

    def __init__(self, command, port, linux):
        self.command, self.port, self.linux = command, port, linux
        self.lines, self.cond = [], threading.Condition()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self.cond.notify_all()

    def output(self, last=None):
        with self.cond:
            return self.lines[-last:] if last else list(self.lines)

    def alive(self):
        return self.proc.poll() is None

    def qemu_pid(self):
        """The QEMU process: the machine's own for the Linux VM, mewz run's child for mewz."""
        if self.linux:
            return self.proc.pid
        for _ in range(100):
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/stat") as f:
                            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
                    if ppid == self.proc.pid:
                        return int(pid)
            time.sleep(0.05)
        raise RuntimeError("mewz run started no QEMU")

    def qemu_argv(self):
        with open(f"/proc/{self.qemu_pid()}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]

    def qemu_rss_kib(self):
        with open(f"/proc/{self.qemu_pid()}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

    def qemu_cpu_s(self):
        """CPU seconds QEMU has used so far: (its main loop, every other thread). The main loop
        runs the user network (slirp) and the NIC's host side; the other threads are the vCPU
        (guest code and the device register accesses it makes) and QEMU's RCU helper."""
        pid, tick = self.qemu_pid(), os.sysconf("SC_CLK_TCK")
        main = other = 0.0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended
            seconds = (int(fields[11]) + int(fields[12])) / tick
            if int(tid) == pid:
                main += seconds
            else:
                other += seconds
        return main, other

    def memory_in_use_kib(self):
        """The guest's own count: MemTotal - MemAvailable for Linux (asked on the console),
        the kernel heap in use for mewz (its -v counters line, printed when it changes)."""
        if self.linux:
            mark = len(self.output())
            self.proc.stdin.write(b"meminfo\n")
            self.proc.stdin.flush()
            deadline = time.monotonic() + 20
            with self.cond:
                while time.monotonic() < deadline:
                    for line in self.lines[mark:]:
                        m = re.search(r"init: .*memory in use: (\d+) KiB", line)
                        if m:
                            return int(m.group(1))
                    self.cond.wait(0.2)
            return None
        found = [re.search(r"heap (\d+) KiB in use", l) for l in self.output()]
        found = [int(m.group(1)) for m in found if m]
        return found[-1] if found else None

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # mewz run ends its QEMU; anything left in the group goes too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def machine_config(argv):
    """What makes the machine in a QEMU command line: the binary, the machine options, the NIC
    (device model and netdev, the port number aside: each boot gets its own)."""
    binary = argv[0] if os.path.sep in argv[0] else (shutil.which(argv[0]) or argv[0])
    config = {"binary": os.path.realpath(binary)}
    for i, a in enumerate(argv[:-1]):
        if a in MACHINE_OPTIONS:
            config[a] = argv[i + 1]
        elif a == "-device" and "netdev=" in argv[i + 1]:
            config["nic"] = argv[i + 1]
        elif a == "-netdev":
            config["netdev"] = re.sub(r"hostfwd=tcp:127\.0\.0\.1:\d+-", "hostfwd=tcp:127.0.0.1:PORT-", argv[i + 1])
    return config

