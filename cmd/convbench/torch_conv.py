"""Times torch 3x3 conv (stride 1, pad 1) forward (+ReLU) and input gradient.

Reads shapes "cin,cout,h,w" one per line from stdin and answers each with a
JSON line {"cin", "cout", "h", "w", "fwd_ms", "bwd_ms"}: the best time over
at least --reps runs and --min-s seconds. The input gradient is timed with
torch.autograd.grad and with conv_transpose2d; the faster one is reported.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def timeit(f, min_reps, min_s):
    f()  # warm-up
    best = float("inf")
    n = 0
    t_end = time.perf_counter() + min_s
    while n < min_reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
        n += 1
    return best * 1e3


def bench(cin, cout, h, w, reps, min_s):
    x = torch.randn(1, cin, h, w)
    wt = torch.randn(cout, cin, 3, 3) * 0.05
    b = torch.randn(cout)
    dy = torch.randn(1, cout, h, w)

    def fwd():
        with torch.no_grad():
            F.relu(F.conv2d(x, wt, b, padding=1), inplace=True)

    xg = x.clone().requires_grad_(True)
    y = F.conv2d(xg, wt, None, padding=1)

    def bwd_autograd():
        torch.autograd.grad(y, xg, dy, retain_graph=True)

    def bwd_transpose():
        with torch.no_grad():
            F.conv_transpose2d(dy, wt, None, padding=1)

    fm = timeit(fwd, reps, min_s)
    bm = min(timeit(bwd_autograd, reps, min_s), timeit(bwd_transpose, reps, min_s))
    return {"cin": cin, "cout": cout, "h": h, "w": w, "fwd_ms": fm, "bwd_ms": bm}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-s", type=float, default=0.3)
    ap.add_argument("shapes", nargs="*", help="cin,cout,h,w (default: read from stdin)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    lines = a.shapes or sys.stdin
    for line in lines:
        line = line.strip()
        if not line:
            continue
        cin, cout, h, w = map(int, line.split(","))
        print(json.dumps(bench(cin, cout, h, w, a.reps, a.min_s)), flush=True)


if __name__ == "__main__":
    main()
