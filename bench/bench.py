#!/usr/bin/env python3
"""mewz benchmarks: run time against native and wasmtime, compile time, image size, boot time.

Run through ci/bench, which builds mewz and the examples first. Prints tables; the goals are
printed next to the numbers, and a goal missed is marked, never hidden.
  compute: mewz host AoT vs native (clang-19 -O2) vs wasmtime (precompiled): CPU time, best of
           N interleaved runs (N: see --runs)
  simd:    examples/simd-rust (BLAKE3, an image filter) built with wasm SIMD and without, under
           mewz (host) and wasmtime, and natively: CPU time, best of N interleaved runs
  compile: mewz compile time (wall and CPU), peak memory and object size per module: the
           compute programs, generated C (one big switch, vectorizable loops), Rust apps
           (bench/compile) and the examples; then what the cache of compiled objects saves;
           with --baseline MEWZ, the compute programs' run time as compiled by both, side by side
  images:  image size per example and target
  boot:    QEMU start -> exit of an app that exits at once, vs the bare kernel; kernel init
           as measured in the guest
  files:   packed directories (--dir): image build time, and QEMU start -> the app's main for
           an empty directory, 10 000 small files and 200 MiB, on both architectures; draws a
           chart (SVG) of the run's numbers
  console: wall time of 5 MiB through `cat` and of 10 MB of `printf` output, mewz on each
           architecture next to wasmtime running the same .wasm; best and median of N rounds,
           ratios of the medians, the best CPU time (all processes: what the run costs whatever
           the machine's load), the goal judged on the best round (as compute is: on a shared
           VM the median measures the neighbours too), and a chart of both
  footprint: the smallest machine each example runs in, the guest's peak use, QEMU's memory
           (see bench/footprint.py)
  http:    the static-file server under wrk: mewz vs a Linux VM running the same .wasm under
           wasmtime and the same server built natively, on the same QEMU machine (httpbench/)
"""
import argparse, math, os, random, re, selectors, shutil, statistics, subprocess, sys, tempfile, time

from footprint import footprint

import httpbench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEWZ = os.path.join(ROOT, "target", "release", "mewz")
WASMTIME = os.path.join(ROOT, ".tools", "bin", "wasmtime")
PROGRAMS = os.path.join(ROOT, "bench", "programs")
# Rounds of the compute table. On a shared VM a run of wasmtime is slowed by noise more often
# than one of mewz or native, so few rounds miss wasmtime's best time more often than theirs
# and the mewz/wasmtime geomean reads low. From 120 rounds on an idle 2-core VM, cut into
# pieces: 5 rounds read 0.773 on average (sd 0.016), 15 rounds 0.778 (sd 0.013), 30 rounds
# 0.790 (sd 0.005), all 120 together 0.790.
COMPUTE_RUNS = 30
BOOT_RUNS = 5
COMPILE_RUNS = 3
COMPILE_INPUTS = os.path.join(ROOT, "bench", "compile")
# Rust inputs of the compile table: (crate under bench/compile, RUSTFLAGS it needs).
RUST_INPUTS = [("ed25519", ""), ("html-rewriter", ""), ("http-server", "--cfg tokio_unstable")]
# Built once and kept (crates.io downloads, minutes of cargo): target/bench-inputs/<crate>.
RUST_TARGET = os.path.join(ROOT, "target", "bench-inputs")
FILES_CHART = os.path.join(ROOT, "target", "bench", "files.svg")
CONSOLE_RUNS = 5
CONSOLE_GOAL_S = 1.0
# The HTTP benchmark: 3 rounds per contender (issue 21), each load measured for 8 s (the whole
# run, 6 machines booted 3 times with 3 loads each, stays under 20 minutes on 2 cores).
HTTP_ROUNDS = 3
HTTP_SECONDS = 8


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def run_once(cmd):
    """CPU seconds (user + sys, all threads) of one run of cmd, and its stdout.

    CPU time, not wall time: on a shared 2-core VM the wall clock also counts the time our vCPU
    was not running, which made run-to-run noise 20-30%; the best CPU time of interleaved runs
    moves by a few %.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {stderr.strip()[-300:]}")
    return usage.ru_utime + usage.ru_stime, stdout


def best_times(cmds, runs):
    """Best CPU time of each command over `runs` rounds, the commands interleaved in each round
    so that a slow phase of the machine hits all of them alike; and each one's stdout."""
    times, outs = round_times(cmds, runs)
    return [min(t) for t in times], outs


def round_times(cmds, runs):
    """Every round's CPU time of each command (see best_times), and each one's stdout."""
    times, outs = [[] for _ in cmds], [None] * len(cmds)
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            t, out = run_once(cmd)
            if outs[i] is not None and out != outs[i]:
                raise RuntimeError(f"{cmd} printed different outputs across runs")
            times[i].append(t)
            outs[i] = out
    return times, outs


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def compute(work, runs):
    print(f"\n## compute (CPU seconds, best of {runs} interleaved runs)")
    print(f"{'program':<10} {'native':>8} {'mewz':>8} {'wasmtime':>9} {'mewz/native':>12} {'mewz/wasmtime':>14} {'compile':>8}")
    vs_native, vs_wasmtime = [], []
    for src in sorted(f for f in os.listdir(PROGRAMS) if f.endswith(".c")):
        name = src[:-2]
        (tn, tm, tw), (on, om, ow), compile_s = run_three(work, os.path.join(PROGRAMS, src), runs)
        if not (on == om == ow):
            raise RuntimeError(f"{name}: outputs differ: native {on!r} mewz {om!r} wasmtime {ow!r}")
        vs_native.append(tm / tn)
        vs_wasmtime.append(tm / tw)
        print(f"{name:<10} {tn:8.3f} {tm:8.3f} {tw:9.3f} {tm/tn:11.2f}x {tm/tw:13.2f}x {compile_s:7.2f}s")
    gn, gw = geomean(vs_native), geomean(vs_wasmtime)
    mark = lambda ok: "ok" if ok else "MISSED"
    print(f"{'geomean':<10} {'':>8} {'':>8} {'':>9} {gn:11.2f}x {gw:13.2f}x")
    print(f"goals: mewz/native <= 1.15x ({mark(gn <= 1.15)}), mewz/wasmtime <= 0.80x ({mark(gw <= 0.80)})")
    # What each engine costs before main runs is part of every time above.
    empty = os.path.join(work, "empty.c")
    with open(empty, "w") as f:
        f.write("int main(void) { return 0; }\n")
    (tn, tm, tw), _, _ = run_three(work, empty, runs)
    print(f"startup (an empty main, in each time above): native {tn*1000:.1f} ms, mewz {tm*1000:.1f} ms, "
          f"wasmtime {tw*1000:.1f} ms")


def run_three(work, path, runs):
    """Builds C program `path` natively, for mewz (host) and for wasmtime (precompiled); returns
    their best CPU times and outputs (see best_times) and mewz's build time."""
    name = os.path.basename(path)[:-2]
    native, wasm = os.path.join(work, name), os.path.join(work, name + ".wasm")
    sh(["clang-19", "-O2", path, "-o", native, "-lm"])
    sh(["clang-19", "--target=wasm32-wasi", "-O2", path, "-o", wasm])
    t = time.perf_counter()
    sh([MEWZ, "build", "--no-cache", "--target", "host", wasm, "-o", native + ".mewz"])
    compile_s = time.perf_counter() - t
    sh([WASMTIME, "compile", wasm, "-o", native + ".cwasm"])
    times, outs = best_times(
        [[native], [native + ".mewz"], [WASMTIME, "run", "--allow-precompiled", native + ".cwasm"]], runs)
    return times, outs, compile_s


def usage_of(cmd, env=None):
    """Wall seconds, CPU seconds (user + sys, the process and what it waited for) and peak
    resident memory (MiB) of one run of cmd, which must succeed."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode().strip()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compile_inputs(work, ex, skip_go):
    """The modules of the compile table, as (name, path), smallest first."""
    inputs = []
    for src in sorted(f for f in os.listdir(PROGRAMS) if f.endswith(".c")):
        wasm = os.path.join(work, "compile-" + src[:-2] + ".wasm")
        sh(["clang-19", "--target=wasm32-wasi", "-O2", os.path.join(PROGRAMS, src), "-o", wasm])
        inputs.append((src[:-2], wasm))
    for generator, name in [("interpreter.py", "c-big-switch"), ("vectorizer.py", "c-vector-loops")]:
        c, wasm = os.path.join(work, name + ".c"), os.path.join(work, name + ".wasm")
        with open(c, "w") as f:
            f.write(sh([sys.executable, os.path.join(COMPILE_INPUTS, generator)]).stdout)
        sh(["clang-19", "--target=wasm32-wasi", "-O2", c, "-o", wasm])
        inputs.append((name, wasm))
    for crate, rustflags in RUST_INPUTS:
        target = os.path.join(RUST_TARGET, crate)
        subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1",
                        "--manifest-path", os.path.join(COMPILE_INPUTS, crate, "Cargo.toml"),
                        "--target-dir", target], check=True,
                       env=dict(os.environ, RUSTFLAGS=rustflags))
        built = [f for f in os.listdir(os.path.join(target, "wasm32-wasip1", "release"))
                 if f.endswith(".wasm")]
        inputs.append(("rust-" + crate, os.path.join(target, "wasm32-wasip1", "release", built[0])))
    for name in ["hello-c", "hello-rust"] + ([] if skip_go else ["hello-go"]):
        inputs.append((name, os.path.join(ex, name + ".wasm")))
    return sorted(inputs, key=lambda i: os.path.getsize(i[1]))


def compile_table(work, ex, runs, skip_go):
    print(f"\n## compile (mewz compile --target host --no-cache; wall: best and median of {runs}, "
          f"CPU and peak memory of the best)")
    print(f"{'module':<20} {'wasm KiB':>9} {'best s':>7} {'median s':>9} {'CPU s':>6} {'KiB/s':>6} "
          f"{'peak MiB':>9} {'object KiB':>11}")
    missed = []
    bests = []
    obj = os.path.join(work, "compiled.o")
    for name, wasm in compile_inputs(work, ex, skip_go):
        size = os.path.getsize(wasm) / 1024
        rounds = [usage_of([MEWZ, "compile", "--no-cache", "--target", "host", wasm, "-o", obj])
                  for _ in range(runs)]
        best = min(rounds)
        median = statistics.median(r[0] for r in rounds)
        rate = size / best[0]
        marks = []
        if best[0] > 5:
            marks.append("over 5 s")
        if size > 500 and rate < 200:
            marks.append("under 200 KiB/s")
        missed += [f"{name}: {m}" for m in marks]
        bests.append((name, best[0]))
        print(f"{name:<20} {size:9.0f} {best[0]:7.2f} {median:9.2f} {best[1]:6.2f} {rate:6.0f} "
              f"{best[2]:9.0f} {os.path.getsize(obj) / 1024:11.0f}  {'MISSED: ' + ', '.join(marks) if marks else ''}")
    print(f"goals: no module over 5 s, >= 200 KiB/s above 500 KiB: "
          f"{'ok' if not missed else 'MISSED (' + '; '.join(missed) + ')'}")
    chart(f"compile wall time per module (best of {runs})",
          bests, 5)
    cached(work, ex, runs)


def cached(work, ex, runs):
    """What the cache of compiled objects saves: the second build of an unchanged app, and
    what a second `mewz run --target host` adds to the app's own run time."""
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache-home"))
    rounds = max(runs, 5)
    print(f"\n## cache (a cache of its own, filled by the first build; median of {rounds})")
    for name in ["hello-c", "hello-rust"]:
        wasm = os.path.join(ex, name + ".wasm")
        for target in ["x86_64", "aarch64"]:
            img = os.path.join(work, f"cached-{name}.{target}.img")
            cmd = [MEWZ, "build", "--target", target, wasm, "-o", img]
            first = usage_of(cmd, env)[0]
            again = statistics.median(usage_of(cmd, env)[0] for _ in range(rounds))
            mark = "ok" if again <= 0.3 else "MISSED"
            print(f"second mewz build {name:<11} {target:<8} {again:6.3f} s (first {first:6.2f} s)"
                  f"   (goal <= 0.300 s: {mark})")
        exe = os.path.join(work, f"cached-{name}")
        # Fills the cache with the linked executable too.
        sh([MEWZ, "build", "--target", "host", wasm, "-o", exe], env=env)
        run = [MEWZ, "run", "--target", "host", wasm, "7"]
        alone, through = [], []
        for _ in range(rounds):
            alone.append(timed_exit([exe, "7"], env))
            through.append(timed_exit(run, env))
        added = statistics.median(through) - statistics.median(alone)
        mark = "ok" if added <= 0.1 else "MISSED"
        print(f"second mewz run {name:<13} host     adds {added * 1000:6.1f} ms to the app's "
              f"{statistics.median(alone) * 1000:.1f} ms   (goal <= 100 ms: {mark})")


def against_baseline(work, baseline, runs):
    """The compute programs' run time compiled by this mewz and by another one (an older build,
    `--baseline`), side by side: what a compiler change costs or gains the generated code."""
    print(f"\n## compute, this mewz vs {baseline} (CPU seconds, best of {runs} interleaved runs)")
    print(f"{'program':<10} {'baseline':>9} {'this':>8} {'this/baseline':>14}")
    ratios = []
    for src in sorted(f for f in os.listdir(PROGRAMS) if f.endswith(".c")):
        name = src[:-2]
        wasm = os.path.join(work, "baseline-" + name + ".wasm")
        sh(["clang-19", "--target=wasm32-wasi", "-O2", os.path.join(PROGRAMS, src), "-o", wasm])
        # The baseline may predate the cache: both compile afresh all the same.
        sh([baseline, "build", "--target", "host", wasm, "-o", wasm + ".baseline"],
           env=dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "baseline-cache")))
        sh([MEWZ, "build", "--no-cache", "--target", "host", wasm, "-o", wasm + ".this"])
        (tb, tt), (ob, ot) = best_times([[wasm + ".baseline"], [wasm + ".this"]], runs)
        if ob != ot:
            raise RuntimeError(f"{name}: outputs differ: baseline {ob!r} this {ot!r}")
        ratios.append(tt / tb)
        print(f"{name:<10} {tb:9.3f} {tt:8.3f} {tt / tb:13.3f}x")
    g = geomean(ratios)
    print(f"{'geomean':<10} {'':>9} {'':>8} {g:13.3f}x   (goal <= 1.020x: {'ok' if g <= 1.02 else 'MISSED'})")


def timed_exit(cmd, env):
    """Wall seconds of cmd, which must exit with 7 (the hello examples exit with their first
    numeric argument)."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.returncode != 7:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return time.perf_counter() - t


# The simd-rust workloads: BLAKE3 (hand-written wasm SIMD) and the image filter (loops the
# compiler vectorises; 400 blurs of a 1024x1024 picture, so that the blurs, not making the
# picture, take the time), each about 0.1-0.5 s under mewz.
SIMD_WORKLOADS = [["hash", "256"], ["filter", "1024", "400"]]


def simd(work, runs):
    print(f"\n## simd (CPU seconds, best and median of {runs} interleaved runs; examples/simd-rust)")
    out = os.path.join(work, "simd")
    subprocess.run(["bash", os.path.join(ROOT, "examples", "build.sh"), out, "simd"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    native = os.path.join(out, "simd-rust-native")
    sh(["cargo", "build", "--quiet", "--release", "--manifest-path",
        os.path.join(ROOT, "examples", "simd-rust", "Cargo.toml"), "--target-dir", native + ".target"])
    shutil.copy(os.path.join(native + ".target", "release", "simd-rust"), native)
    builds = {}
    for kind in ["simd", "scalar"]:
        wasm = os.path.join(out, "simd-rust.wasm" if kind == "simd" else "simd-rust-scalar.wasm")
        sh([MEWZ, "build", "--target", "host", wasm, "-o", wasm + ".mewz"])
        sh([WASMTIME, "compile", wasm, "-o", wasm + ".cwasm"])
        builds[kind] = ([wasm + ".mewz"], [WASMTIME, "run", "--allow-precompiled", wasm + ".cwasm"])
    # mewz and wasmtime run both builds; the ratios are of best times, the mewz/native and
    # mewz/wasmtime ones of the SIMD builds.
    names = ["native", "mewz", "(scalar)", "wasmtime", "(scalar)"]
    print(f"{'workload':<16} {'':<7}" + "".join(f" {n:>9}" for n in names)
          + f" {'mewz scalar/simd':>17} {'wasmtime s/s':>13} {'mewz/native':>12} {'mewz/wasmtime':>14}")
    speedups = []
    for args in SIMD_WORKLOADS:
        cmds = [[native], builds["simd"][0], builds["scalar"][0], builds["simd"][1], builds["scalar"][1]]
        times, outs = round_times([c + args for c in cmds], runs)
        if len(set(outs)) != 1:
            raise RuntimeError(f"simd-rust {' '.join(args)}: outputs differ: {outs!r}")
        for label, pick in [("best", min), ("median", statistics.median)]:
            tn, tm, tms, tw, tws = (pick(t) for t in times)
            if label == "best":
                speedups.append(tms / tm)
            print(f"{' '.join(args) if label == 'best' else '':<16} {label:<7}"
                  + "".join(f" {t:9.3f}" for t in (tn, tm, tms, tw, tws))
                  + f" {tms/tm:16.2f}x {tws/tw:12.2f}x {tm/tn:11.2f}x {tm/tw:13.2f}x")
    mark = lambda ok: "ok" if ok else "MISSED"
    print(f"goal: the SIMD build at least 2x as fast as the scalar one under mewz (best times), for each "
          f"workload ({mark(min(speedups) >= 2.0)})")


def examples_dir(work):
    out = os.path.join(work, "examples")
    subprocess.run(["bash", os.path.join(ROOT, "examples", "build.sh"), out, "c", "rust", "go"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def images(work, ex, skip_go):
    print("\n## compile time and image size")
    print(f"{'example':<12} {'wasm KiB':>9} {'target':<8} {'compile s':>10} {'image KiB':>10}")
    for name in ["hello-c", "hello-rust"] + ([] if skip_go else ["hello-go"]):
        wasm = os.path.join(ex, name + ".wasm")
        for target in ["x86_64", "aarch64"]:
            img = os.path.join(work, f"{name}.{target}.img")
            r = sh([MEWZ, "build", "--no-cache", "--target", target, wasm, "-o", img])
            m = re.search(r"compile\s+([\d.]+) s", r.stderr)
            size = os.path.getsize(img) / 1024
            goal = "" if name != "hello-c" else ("  (goal <= 512 KiB: " + ("ok" if size <= 512 else "MISSED") + ")")
            print(f"{name:<12} {os.path.getsize(wasm)/1024:9.0f} {target:<8} {float(m.group(1)):10.2f} {size:10.0f}{goal}")


def boot(work, runs):
    print(f"\n## boot (median of {runs} runs; QEMU start -> exit, seconds)")
    wat = os.path.join(work, "exit0.wat")
    with open(wat, "w") as f:
        f.write('(module (memory (export "memory") 1) (func (export "_start")))')
    wasm = os.path.join(work, "exit0.wasm")
    sh(["wat2wasm", wat, "-o", wasm])
    print(f"{'target':<8} {'bare kernel':>12} {'app':>8} {'app/kernel':>11} {'kernel init (guest)':>20}")
    for target in ["x86_64", "aarch64"]:
        kernel, app = os.path.join(work, f"kernel.{target}.img"), os.path.join(work, f"exit0.{target}.img")
        sh([MEWZ, "build", "--target", target, "-o", kernel])
        sh([MEWZ, "build", "--target", target, wasm, "-o", app])
        tk, ta, inits = [], [], []
        for _ in range(runs):
            t = time.perf_counter()
            sh([MEWZ, "run", "--kernel-arg", "mewz.selftest=none", kernel])
            tk.append(time.perf_counter() - t)
            t = time.perf_counter()
            sh([MEWZ, "run", app])
            ta.append(time.perf_counter() - t)
            r = sh([MEWZ, "run", "-v", app])
            m = re.search(r"kernel init took (\d+) us", r.stderr)
            if m:
                inits.append(int(m.group(1)) / 1000)
        k, a = statistics.median(tk), statistics.median(ta)
        init = f"{statistics.median(inits):.1f} ms" if inits else "n/a"
        mark = "ok" if a <= 1.2 * k else "MISSED"
        print(f"{target:<8} {k:12.3f} {a:8.3f} {a/k:10.2f}x {init:>20}   (goal app <= 1.2x kernel: {mark})")


def files_trees(work):
    """(label, directory, file count, MiB): an empty directory, 10 000 small files in 100
    directories, and 200 MiB in four files (64 MiB at most), random bytes."""
    empty = os.path.join(work, "tree-empty")
    os.makedirs(empty)
    small = os.path.join(work, "tree-10k")
    for d in range(100):
        os.makedirs(os.path.join(small, f"d{d:02}"))
        for f in range(100):
            i = d * 100 + f
            with open(os.path.join(small, f"d{d:02}", f"f{i:05}"), "w") as out:
                out.write(f"file {i}\n" * (i % 37))
    big = os.path.join(work, "tree-200m")
    os.makedirs(big)
    r = random.Random(7)
    for name, mib in [("a", 64), ("b", 64), ("c", 64), ("d", 8)]:
        with open(os.path.join(big, name + ".bin"), "wb") as out:
            for _ in range(mib):
                out.write(r.randbytes(1 << 20))
    return [("empty", empty, 0, 0), ("10 000 files", small, 10_000, 0.3), ("200 MiB", big, 4, 200)]


def qemu_to_main(cmd):
    """Seconds from QEMU's start (mewz prints its command line just before, with
    MEWZ_SHOW_QEMU) to the app's first line, which it prints first thing in main."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, MEWZ_SHOW_QEMU="1"))
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = {proc.stdout: b"", proc.stderr: b""}
    started = at_main = None
    while sel.get_map() and at_main is None:
        for key, _ in sel.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            seen[key.fileobj] += data
            now = time.perf_counter()
            if started is None and b'mewz: "qemu-system' in seen[proc.stderr]:
                started = now
            if at_main is None and b"main\n" in seen[proc.stdout]:
                at_main = now
    proc.communicate()
    if proc.returncode != 0 or started is None or at_main is None:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {seen[proc.stderr].decode()[-300:]}")
    return at_main - started


def files(work, runs):
    print(f"\n## packed directories (--dir): build, and QEMU start -> app main ({runs} interleaved runs)")
    app = os.path.join(work, "main.c")
    with open(app, "w") as f:
        f.write('#include <stdio.h>\nint main(void) { puts("main"); return 0; }\n')
    wasm = os.path.join(work, "main.wasm")
    sh(["clang-19", "--target=wasm32-wasi", "-O2", app, "-o", wasm])
    trees = files_trees(work)
    print(f"{'target':<8} {'directory':<13} {'build s':>8} {'packing s':>10} {'image MiB':>10} "
          f"{'best ms':>8} {'median ms':>10} {'best/empty':>11} {'median/empty':>13}")
    results = {}
    for target in ["x86_64", "aarch64"]:
        imgs = []
        for label, tree, _, _ in trees:
            img = os.path.join(work, f"{target}-{len(imgs)}.img")
            t = time.perf_counter()
            r = sh([MEWZ, "build", "--target", target, "--dir", f"{tree}::/data", wasm, "-o", img])
            build = time.perf_counter() - t
            m = re.search(r"files\s+([\d.]+) s", r.stderr)
            imgs.append((label, img, build, float(m.group(1)) if m else math.nan))
        boots = {label: [] for label, *_ in imgs}
        for _ in range(runs):
            for label, img, _, _ in imgs:
                boots[label].append(qemu_to_main([MEWZ, "run", img]))
        best0, median0 = min(boots[imgs[0][0]]), statistics.median(boots[imgs[0][0]])
        for label, img, build, packing in imgs:
            best, median = min(boots[label]), statistics.median(boots[label])
            results[(target, label)] = (build, median * 1000)
            print(f"{target:<8} {label:<13} {build:8.2f} {packing:10.2f} {os.path.getsize(img) / (1 << 20):10.1f} "
                  f"{best * 1000:8.0f} {median * 1000:10.0f} {best / best0:10.2f}x {median / median0:12.2f}x")
        # Judged on the best run, which noise from other work on the machine can only slow.
        ratio = min(boots[imgs[-1][0]]) / best0
        print(f"goal ({target}): 200 MiB boots within 1.2x the empty directory (best runs): {ratio:.2f}x "
              f"({'ok' if ratio <= 1.2 else 'MISSED'}); medians: "
              f"{statistics.median(boots[imgs[-1][0]]) / median0:.2f}x")
    draw_files_chart(results, [t[0] for t in trees])
    print(f"chart: {FILES_CHART}")


def draw_files_chart(results, labels):
    """Two bar charts side by side (QEMU start -> main, build time), one bar group per target."""
    targets = ["x86_64", "aarch64"]
    colors = ["#4c78a8", "#f58518", "#54a24b"]
    width, height, pad = 760, 300, 50
    panel = (width - 3 * pad) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for p, (title, index, unit) in enumerate([("QEMU start &#8594; app main", 1, "ms"), ("image build", 0, "s")]):
        x0 = pad + p * (panel + pad)
        top = max(results[(t, l)][index] for t in targets for l in labels) * 1.15 or 1
        plot = height - 2 * pad
        parts.append(f'<text x="{x0 + panel / 2}" y="{pad - 20}" text-anchor="middle" font-weight="bold">{title} ({unit})</text>')
        parts.append(f'<line x1="{x0}" y1="{height - pad}" x2="{x0 + panel}" y2="{height - pad}" stroke="black"/>')
        group = panel / len(targets)
        bar = group / (len(labels) + 1)
        for ti, t in enumerate(targets):
            for li, l in enumerate(labels):
                v = results[(t, l)][index]
                h = plot * v / top
                x = x0 + ti * group + (li + 0.5) * bar
                parts.append(f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{bar * 0.9:.1f}" height="{h:.1f}" fill="{colors[li]}"/>')
                value = f"{v:.0f}" if unit == "ms" else f"{v:.1f}"
                parts.append(f'<text x="{x + bar * 0.45:.1f}" y="{height - pad - h - 4:.1f}" text-anchor="middle" '
                             f'font-size="10">{value}</text>')
            parts.append(f'<text x="{x0 + (ti + 0.5) * group:.1f}" y="{height - pad + 16}" text-anchor="middle">{t}</text>')
    for li, l in enumerate(labels):
        parts.append(f'<rect x="{pad + li * 150}" y="{height - 22}" width="12" height="12" fill="{colors[li]}"/>')
        parts.append(f'<text x="{pad + li * 150 + 16}" y="{height - 12}">{l}</text>')
    parts.append("</svg>")
    os.makedirs(os.path.dirname(FILES_CHART), exist_ok=True)
    with open(FILES_CHART, "w") as f:
        f.write("\n".join(parts) + "\n")
def wall_time(cmd, stdin_path, stdout_path):
    """Wall seconds and CPU seconds (user + sys, the whole process tree) of one run of cmd,
    stdin from a file, stdout to a file."""
    with open(stdin_path, "rb") as i, open(stdout_path, "wb") as o, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=i, stdout=o, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"{cmd} failed ({status}): {err.read().decode()[-300:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def chart(title, rows, goal):
    """A bar per (label, seconds), scaled to the largest, with the goal marked."""
    width = 50
    top = max([goal] + [v for _, v in rows])
    print(f"\n{title}")
    mark = round(goal / top * width)
    for label, v in rows:
        bar = "#" * max(1, round(v / top * width))
        print(f"  {label:<21} |{bar:<{width}}| {v:.2f} s")
    print(f"  {'':<21}  {' ' * max(0, mark - 1)}^ {goal:g} s goal")


def console(work, runs):
    print(f"\n## console (wall seconds, {runs} rounds, interleaved; each mewz run includes its boot)")
    ex = os.path.join(work, "console")
    subprocess.run(["bash", os.path.join(ROOT, "examples", "build.sh"), ex, "console"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = os.path.join(work, "random-5MiB")
    with open(data, "wb") as f:
        f.write(os.urandom(5 << 20))
    empty = os.path.join(work, "empty")
    open(empty, "wb").close()
    workloads = [("cat 5 MiB", "cat", data), ("printf 10 MB", "printf", empty)]
    engines = [("wasmtime", None), ("mewz x86_64", "x86_64"), ("mewz aarch64", "aarch64")]
    print(f"{'workload':<14} {'engine':<14} {'best':>7} {'median':>7} {'vs wasmtime':>12} {'cpu best':>9}   goal: best <= {CONSOLE_GOAL_S:g} s")
    bests, medians = {}, {}
    for title, prog, stdin in workloads:
        wasm = os.path.join(ex, prog + ".wasm")
        cmds = {}
        for engine, target in engines:
            if target is None:
                cmds[engine] = [WASMTIME, "run", wasm]
            else:
                img = os.path.join(work, f"{prog}.{target}.img")
                sh([MEWZ, "build", "--target", target, wasm, "-o", img])
                cmds[engine] = [MEWZ, "run", img]
        times = {e: [] for e, _ in engines}
        cpu = {e: [] for e, _ in engines}
        outputs = {}
        for _ in range(runs):
            for engine, _ in engines:
                out = os.path.join(work, "out-" + engine.replace(" ", "-"))
                wall, cpu_s = wall_time(cmds[engine], stdin, out)
                times[engine].append(wall)
                cpu[engine].append(cpu_s)
                with open(out, "rb") as f:
                    got = f.read()
                if outputs.setdefault(engine, got) != got:
                    raise RuntimeError(f"{title}: {engine} printed different outputs across runs")
        if prog == "cat":
            with open(data, "rb") as f:
                want = f.read()
            bad = [e for e, o in outputs.items() if o != want]
            if bad:
                raise RuntimeError(f"{title}: output differs from the input under {', '.join(bad)}")
        elif len({o for o in outputs.values()}) != 1:
            raise RuntimeError(f"{title}: the engines printed different outputs")
        base = statistics.median(times["wasmtime"])
        for engine, target in engines:
            best, med = min(times[engine]), statistics.median(times[engine])
            bests[(title, engine)], medians[(title, engine)] = best, med
            ratio = "" if target is None else f"{med / base:11.2f}x"
            goal = "" if target is None else ("ok" if best <= CONSOLE_GOAL_S else "MISSED")
            print(f"{title:<14} {engine:<14} {best:7.2f} {med:7.2f} {ratio:>12} {min(cpu[engine]):9.2f}   {goal}")
    for title, _, _ in workloads:
        rows = []
        for e, _ in engines:
            rows += [(f"{e} best", bests[(title, e)]), (f"{e} median", medians[(title, e)])]
        chart(f"{title}: wall seconds", rows, CONSOLE_GOAL_S)


def positive(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=positive,
                   help=f"rounds per measurement (compute, simd and compile --baseline: {COMPUTE_RUNS}, the last at "
                        f"least {BOOT_RUNS}; compile: {COMPILE_RUNS}; boot and files: {BOOT_RUNS}, at least {BOOT_RUNS}; "
                        f"console: {CONSOLE_RUNS})")
    p.add_argument("--only", choices=["compute", "compile", "simd", "images", "boot", "console", "files", "footprint",
                                      "http"], action="append")
    p.add_argument("--skip-go", action="store_true", help="leave the (slow to compile) Go hello out")
    p.add_argument("--baseline", metavar="MEWZ",
                   help="compile: also run the compute programs as another mewz binary compiles them, "
                        "side by side (e.g. a build of main)")
    p.add_argument("--http-arch", choices=["x86_64", "aarch64"], action="append",
                   help="http: one architecture only (default both)")
    p.add_argument("--http-rounds", type=positive, default=HTTP_ROUNDS,
                   help=f"http: rounds per contender (default {HTTP_ROUNDS})")
    p.add_argument("--http-seconds", type=positive, default=HTTP_SECONDS,
                   help=f"http: seconds of each measured wrk run (default {HTTP_SECONDS})")
    a = p.parse_args()
    parts = a.only or ["compute", "compile", "simd", "images", "boot", "console", "files", "footprint", "http"]
    with tempfile.TemporaryDirectory(prefix="mewz-bench-") as work:
        print(f"mewz bench on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        if "compute" in parts:
            compute(work, a.runs or COMPUTE_RUNS)
        if "simd" in parts:
            simd(work, a.runs or COMPUTE_RUNS)
        examples = examples_dir(work) if {"compile", "images", "footprint"} & set(parts) else None
        if "compile" in parts:
            compile_table(work, examples, a.runs or COMPILE_RUNS, a.skip_go)
            if a.baseline:
                against_baseline(work, a.baseline, max(a.runs or COMPUTE_RUNS, BOOT_RUNS))
        if "images" in parts:
            images(work, examples, a.skip_go)
        if "boot" in parts:
            boot(work, max(a.runs or BOOT_RUNS, BOOT_RUNS))
        if "console" in parts:
            console(work, a.runs or CONSOLE_RUNS)
        if "files" in parts:
            files(work, max(a.runs or BOOT_RUNS, BOOT_RUNS))
        if "footprint" in parts:
            footprint(work, MEWZ, examples, a.skip_go)
    if "http" in parts and not httpbench.bench(a.http_arch or ["x86_64", "aarch64"], a.http_rounds,
                                               a.http_seconds):
        sys.exit("http: a contender is broken (see above); no ratio is given for it")


if __name__ == "__main__":
    main()
