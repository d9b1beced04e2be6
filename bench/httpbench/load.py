"""Talking HTTP to a contender: the first answer after boot (cold start), the byte-for-byte check
of every served file, and wrk's load with its numbers parsed."""
import http.client, re, selectors, socket, subprocess, time


class Broken(Exception):
    """The contender failed: did not start, answered wrongly, or erred under load."""


def get(port, path, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("content-length"), r.read()
    finally:
        conn.close()


def check_answers(port, files):
    """Each file once, compared byte for byte; a missing one must be 404."""
    for path, data in files.items():
        try:
            status, length, body = get(port, path)
        except (OSError, http.client.HTTPException) as e:
            raise Broken(f"GET {path}: {e}")
        if status != 200 or body != data or length != str(len(data)):
            raise Broken(f"GET {path}: status {status}, {len(body)} bytes (content-length {length}), "
                         f"{'the same' if body == data else 'not the'} bytes as the file's {len(data)}")
    status, _, _ = get(port, "/no-such-file")
    if status != 404:
        raise Broken(f"GET /no-such-file: status {status}, not 404")


def cold_start(port, path, started, alive, limit_s):
    """Seconds from `started` (perf_counter at QEMU's start) to the first complete HTTP 200.

    A new request goes out every 20 ms, each on its own connection, until one is answered:
    while the guest is not up, QEMU's user network accepts the connection and then stalls or
    drops it, so one request retried after a timeout would add that timeout to the result.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    sel, pending = selectors.DefaultSelector(), {}
    next_try = time.perf_counter()
    try:
        while True:
            now = time.perf_counter()
            if now - started > limit_s:
                raise Broken(f"no HTTP 200 within {limit_s} s of QEMU's start")
            if not alive():
                raise Broken("the machine stopped before it answered")
            if now >= next_try and len(pending) < 200:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
                pending[s] = [b"", False]
                next_try = now + 0.02
            for key, events in sel.select(timeout=0.005):
                s, state = key.fileobj, pending[key.fileobj]
                try:
                    if events & selectors.EVENT_WRITE and not state[1]:
                        s.send(request)
                        state[1] = True
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    state[0] += chunk
                    continue
                # The connection ended: an answer if it is a complete 200.
                done = time.perf_counter()
                sel.unregister(s)
                s.close()
                del pending[s]
                if state[0].startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in state[0]:
                    return done - started
    finally:
        for s in pending:
            s.close()
        sel.close()


def wrk(port, path, threads, connections, seconds, timeout_s):
    """One wrk run; its requests/s, p50/p99 latency (ms), requests and errors."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           f"--timeout={timeout_s}s", f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    if r.returncode != 0:
        raise Broken(f"wrk failed ({r.returncode}): {r.stderr.strip()[-200:]}")
    return parse_wrk(r.stdout)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(out):
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not rps or not total:
        raise Broken(f"wrk printed no result: {out.strip()[-200:]}")
    errors = {}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors.update(zip(("connect", "read", "write", "timeout"), map(int, sock.groups())))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    return {"rps": float(rps.group(1)), "p50": latency(50), "p99": latency(99),
            "requests": int(total.group(1)), "errors": {k: v for k, v in errors.items() if v}}
