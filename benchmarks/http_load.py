"""Load the HTTP service with 1, 4 and 16 (or --clients) concurrent clients: latency and
throughput.

    python benchmarks/http_load.py [--clients 1 4 16 50] [--seconds 10] [--runs 3]
                                   [--creators 100] [--workers N] [--model DIR]

Starts `creator-recommender http` (its default worker count unless --workers) on a
free port of 127.0.0.1, then, for each client count, keeps that many clients
posting the same /score request (`--creators` simulated creators, one campaign)
back to back over kept-alive connections for `--seconds`. Each client is a thread
holding one connection (http.client: the lightest client Python has, so the
clients take little of the cores the server needs). Prints p50/p95/p99 latency,
requests per second and errors for each count, the median over `--runs` runs, each
count's throughput relative to one client's measured in the same run, and (from the
answers' Server-Timing header) how long the scoring process worked on a request and
how long the server held it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from recommender.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request_body(creators: int, endpoint: str) -> bytes:
    import numpy as np

    from recommender.datasets.simulate import generate_creators

    frame, _ = generate_creators(creators, np.random.default_rng(7))
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    body: dict[str, object] = {
        "campaign": {"campaign_id": "bench", "niche": "pet", "target_country": "US",
                     "product_price_usd": 25},
        "creators": rows,
    }  # fmt: skip
    if endpoint == "plan":
        body["budget_usd"] = 3_000
    return json.dumps(body).encode()


def wait_until_up(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not come up")


def load(port: int, path: str, body: bytes, clients: int, seconds: float) -> dict[str, float]:
    """`clients` threads posting `body` until `seconds` pass: latencies and errors."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    timings: list[list[dict[str, float]]] = [[] for _ in range(clients)]  # Server-Timing
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]
    headers = {"Content-Type": "application/json"}

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                timings[i].append(server_timing(response.getheader("Server-Timing") or ""))
            except OSError:
                ok = False
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            if ok:
                latencies[i].append(time.perf_counter() - began)
            else:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for per_client in latencies for x in per_client)
    if not every:
        raise SystemExit(f"no request succeeded ({sum(errors)} errors)")

    def quantile(q: float) -> float:
        return every[min(len(every) - 1, int(q * len(every)))] * 1000

    said = [t for per_client in timings for t in per_client if t] or [{"score": 0, "total": 0}]
    return {"p50": quantile(0.50), "p95": quantile(0.95), "p99": quantile(0.99),
            "rps": len(every) / elapsed, "errors": float(sum(errors)),
            "score": statistics.median(t["score"] for t in said),
            "total": statistics.median(t["total"] for t in said)}  # fmt: skip


def server_timing(header: str) -> dict[str, float]:
    """'score;dur=16.2, total;dur=17.5' as {'score': 16.2, 'total': 17.5}."""
    parts = (p.strip().split(";dur=") for p in header.split(",") if ";dur=" in p)
    return {name: float(ms) for name, ms in parts}


def measure(
    port: int, path: str, body: bytes, counts: list[int], runs: int, seconds: float
) -> dict[int, list[dict[str, float]]]:
    """Each client count's results, run by run, after a warm-up of every worker."""
    load(port, path, body, max(counts), 3.0)
    results: dict[int, list[dict[str, float]]] = {c: [] for c in counts}
    for run in range(runs):
        for clients in counts:
            r = load(port, path, body, clients, seconds)
            results[clients].append(r)
            print(f"run {run + 1}: {clients:>3} clients  p50 {r['p50']:6.1f} ms  "
                  f"p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
                  f"{r['rps']:6.1f} req/s  errors {r['errors']:.0f}", flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--creators", type=int, default=100, help="creators per request")
    parser.add_argument("--endpoint", choices=["score", "plan"], default="score")
    parser.add_argument("--workers", type=int, help="default: the http command's own")
    parser.add_argument("--model", default=str(ROOT / "models" / "latest"))
    args = parser.parse_args()
    body = request_body(args.creators, args.endpoint)
    port = free_port()
    command = [*CLI, "http", "--model", args.model, "--port", str(port)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    environment = {k: v for k, v in os.environ.items() if k != "CREATOR_RECOMMENDER_API_KEY"}
    # Its output to a file, not a pipe: nobody would drain a pipe during the run.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        try:
            wait_until_up(port, server)
            log.seek(0)
            print(log.readline().decode().strip())
            results = measure(port, f"/{args.endpoint}", body, args.clients, args.runs,
                              args.seconds)  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)

    one = [r["rps"] for r in results[min(args.clients)]]
    print(f"\nPOST /{args.endpoint}, {args.creators} creators a request, "
          f"{os.cpu_count()} cores, median of {args.runs} runs of {args.seconds:g} s")  # fmt: skip
    print("| clients | p50 ms | p95 ms | p99 ms | requests/s | x one client | errors "
          "| server: scoring, whole request (p50 ms) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clients, runs in results.items():
        ratio = statistics.median(r["rps"] / o for r, o in zip(runs, one, strict=True))
        cells = [statistics.median(r[k] for r in runs)
                 for k in ("p50", "p95", "p99", "rps", "score", "total")]  # fmt: skip
        errors = sum(r["errors"] for r in runs)
        print(f"| {clients} | {cells[0]:.1f} | {cells[1]:.1f} | {cells[2]:.1f} "
              f"| {cells[3]:.1f} | {ratio:.2f} | {errors:.0f} "
              f"| {cells[4]:.1f}, {cells[5]:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
