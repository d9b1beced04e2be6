"""The run's numbers: a table per architecture, the ratios against the Linux VM, the chart
(docs/bench/http.svg, drawn from this run's numbers) and the exact last lines."""
import html, json, os, statistics

from . import artefacts as A
from .run import CONTENDERS, HEADLINE, LOADS, WARMUP_S

GOALS = {"linux-wasmtime": 2.0, "linux-native": 1.0}  # mewz's req/s over theirs, issue 21
COLORS = {"mewz": "#d95f02", "linux-wasmtime": "#7570b3", "linux-native": "#1b9e77"}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rps(c, load):
    """Median and best requests/s of a contender's rounds of a load (None when it has none)."""
    rs = [r["rps"] for r in c.loads.get(load, [])]
    return (statistics.median(rs), max(rs)) if rs and not c.broken else (None, None)


def ratio(arch_contenders, load, other):
    mine, theirs = (rps(arch_contenders[n], load)[0] if n in arch_contenders else None
                    for n in ("mewz", other))
    return mine / theirs if mine and theirs else None


def cpu_per_request(c, load):
    """Median host CPU (QEMU's vCPU and main loop) per request, in us, of c's rounds of load."""
    rs = c.loads.get(load, []) if c and not c.broken else []
    return median([r["vcpu_us"] + r["io_us"] for r in rs if "vcpu_us" in r and "io_us" in r])


def cpu_ratio(arch_contenders, load, other):
    """Their host CPU per request over mewz's: like the requests/s ratio, higher is better
    for mewz, and steadier than it on a shared host."""
    mine, theirs = (cpu_per_request(arch_contenders.get(n), load) for n in ("mewz", other))
    return theirs / mine if mine and theirs else None


def fmt(x, spec):
    width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
    return "-".rjust(int(width or 0)) if x is None else format(x, spec)


def table(arch, cs, machine, rounds, seconds):
    by = {c.name: c for c in cs}
    m = machine or {}
    print(f"\n## http {arch}: {rounds} rounds of {seconds} s per load, after {WARMUP_S} s of warm-up "
          f"(requests/s: median and best; latency: median of the rounds' p50/p99; others: the cores "
          f"the rest of the host kept busy meanwhile, of {os.cpu_count()})")
    bios = f" -bios {m['-bios']}" if "-bios" in m else ""
    print(f"machine: {os.path.basename(m.get('binary', '?'))} -M {m.get('-M', '?')} -cpu {m.get('-cpu', '?')} "
          f"-m {m.get('-m', '?')} -smp {m.get('-smp', '1')}{bios}, NIC {m.get('nic', '?')}, "
          f"netdev {m.get('netdev', '?')}")
    print(f"{'load':<12} {'contender':<15} {'req/s':>9} {'best':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'host CPU us/req: vCPU':>22} {'main loop':>9} {'others':>6}")
    for load in LOADS:
        for c in cs:
            med, best = rps(c, load.name)
            results = c.loads.get(load.name, []) if not c.broken else []
            p50 = median([r["p50"] for r in results])
            p99 = median([r["p99"] for r in results])
            vcpu = median([r.get("vcpu_us") for r in results])
            io = median([r.get("io_us") for r in results])
            others = median([r.get("others_cores") for r in results])
            extra = "  BROKEN" if c.broken else ""
            print(f"{load.name:<12} {c.name:<15} {fmt(med, '9.0f')} {fmt(best, '9.0f')} "
                  f"{fmt(p50, '8.1f')} {fmt(p99, '8.1f')} {fmt(vcpu, '22.0f')} {fmt(io, '9.0f')} "
                  f"{fmt(others, '6.2f')}{extra}")
    print(f"\n{'contender':<15} {'cold start s':>13} {'best':>6} {'image KiB':>10} {'guest mem KiB':>14} "
          f"{'QEMU RSS MiB':>13}  image")
    for c in cs:
        cold = None if c.broken else median(c.cold)
        best = None if c.broken or not c.cold else min(c.cold)
        mem = None if c.broken else median(c.memory_kib)
        rss = None if c.broken else median(c.rss_kib)
        print(f"{c.name:<15} {fmt(cold, '13.2f')} {fmt(best, '6.2f')} {c.image_bytes / 1024:10.0f} "
              f"{fmt(mem, '14.0f')} {fmt(rss and rss / 1024, '13.0f')}  {c.image}")
    for c in cs:
        if c.broken:
            print(f"{c.name}: BROKEN: {c.broken}")
    for other, goal in GOALS.items():
        parts = [f"{load.name} {fmt(ratio(by, load.name, other), '.2f')}" for load in LOADS]
        r = ratio(by, HEADLINE, other)
        verdict = "n/a" if r is None else ("ok" if r >= goal else "MISSED")
        print(f"mewz/{other}: " + ", ".join(parts) + f"   (goal >= {goal:.1f} at {HEADLINE}: {verdict})")
    for other in GOALS:
        parts = [f"{load.name} {fmt(cpu_ratio(by, load.name, other), '.2f')}" for load in LOADS]
        print(f"by host CPU per request, {other}'s over mewz's: " + ", ".join(parts))


def final_line(arch, cs):
    by = {c.name: c for c in cs}
    rs = [fmt(ratio(by, HEADLINE, other), ".2f").replace("-", "broken") for other in GOALS]
    return f"http {arch}: mewz/linux-wasmtime {rs[0]} mewz/linux-native {rs[1]}"


def report(contenders, machines, rounds, seconds):
    """Prints the tables and the last lines, writes the chart and the numbers; returns whether
    every contender ran clean."""
    arches = sorted({c.arch.name for c in contenders}, key=lambda a: list(A.ARCHES).index(a))
    for a in arches:
        table(a, [c for c in contenders if c.arch.name == a], machines.get(a), rounds, seconds)
    write_json(contenders, machines, rounds, seconds)
    svg = chart(arches, contenders, rounds, seconds)
    path = os.path.join(A.ROOT, "docs", "bench", "http.svg")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(svg)
    print(f"\nchart: {os.path.relpath(path, A.ROOT)}; numbers: {os.path.relpath(results_path(), A.ROOT)}")
    for a in arches:
        print(final_line(a, [c for c in contenders if c.arch.name == a]))
    return not any(c.broken for c in contenders)


def results_path():
    return os.path.join(A.WORK, "results.json")


def write_json(contenders, machines, rounds, seconds):
    data = {"rounds": rounds, "seconds": seconds, "machines": machines, "contenders": [
        {"arch": c.arch.name, "name": c.name, "broken": c.broken, "image_bytes": c.image_bytes,
         "cold_start_s": c.cold, "memory_kib": c.memory_kib, "qemu_rss_kib": c.rss_kib, "loads": c.loads}
        for c in contenders]}
    with open(results_path(), "w") as f:
        json.dump(data, f, indent=1)


def chart(arches, contenders, rounds, seconds):
    """Grouped bars (median req/s, a tick at the best round) per load, one panel per arch."""
    pw, ph, top, left, bottom = 460, 300, 70, 60, 60
    width, height = left + len(arches) * (pw + 30), top + ph + bottom + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="15" font-weight="bold">Static-file HTTP server under wrk, '
           f'same QEMU machine (TCG) for every contender</text>',
           f'<text x="{left}" y="40" fill="#555">requests/s, median of {rounds} rounds of {seconds} s '
           f'(tick: best round); ratios at {html.escape(HEADLINE)}</text>']
    for i, arch in enumerate(arches):
        cs = {c.name: c for c in contenders if c.arch.name == arch}
        x0, y0 = left + i * (pw + 30), top
        peak = max([rps(c, l.name)[1] or 0 for c in cs.values() for l in LOADS] + [1])
        scale = nice_ceiling(peak)
        out.append(f'<text x="{x0}" y="{y0 - 8}" font-weight="bold">{arch}: '
                   + html.escape(final_line(arch, cs.values()).split(": ", 1)[1]) + "</text>")
        out.append(f'<line x1="{x0}" y1="{y0 + ph}" x2="{x0 + pw}" y2="{y0 + ph}" stroke="black"/>')
        for k in range(5):
            v = scale * k / 4
            y = y0 + ph - ph * k / 4
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{v:,.0f}</text>')
        group = pw / len(LOADS)
        bar = group / (len(CONTENDERS) + 1)
        for j, load in enumerate(LOADS):
            gx = x0 + j * group + bar / 2
            out.append(f'<text x="{gx + bar * len(CONTENDERS) / 2:.1f}" y="{y0 + ph + 16}" '
                       f'text-anchor="middle">{html.escape(load.name)}</text>')
            for k, name in enumerate(CONTENDERS):
                c = cs.get(name)
                med, best = rps(c, load.name) if c else (None, None)
                bx = gx + k * bar
                if med is None:
                    out.append(f'<text x="{bx + bar / 2:.1f}" y="{y0 + ph - 4}" text-anchor="middle" '
                               f'font-size="10" fill="red">{"broken" if c and c.broken else "-"}</text>')
                    continue
                h = ph * med / scale
                out.append(f'<rect x="{bx:.1f}" y="{y0 + ph - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                           f'fill="{COLORS[name]}"/>')
                by = y0 + ph - ph * best / scale
                out.append(f'<line x1="{bx:.1f}" y1="{by:.1f}" x2="{bx + bar - 2:.1f}" y2="{by:.1f}" stroke="black"/>')
                out.append(f'<text x="{bx + bar / 2 - 1:.1f}" y="{by - 3:.1f}" text-anchor="middle" '
                           f'font-size="9">{med:,.0f}</text>')
    lx = left
    for name in CONTENDERS:
        out.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{COLORS[name]}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 12}">{name}</text>')
        lx += 140
    out.append("</svg>\n")
    return "\n".join(out)


def nice_ceiling(x):
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above x."""
    p = 10 ** (len(str(int(x))) - 1)
    return next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= x)
