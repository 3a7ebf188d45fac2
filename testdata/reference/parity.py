#!/usr/bin/python3
"""Parity of reference mode with the public NNST reference.

    /usr/bin/python3 testdata/reference/parity.py --reference DIR \
        [--images ../shared/images] [--pairs c1:s4,c2:s1,c3:s5] \
        [--size 512] [--steps 200] [--seeds 0,1] [--out /tmp/nnst-parity]

DIR is a checkout of nkolkin13/NeuralNeighborStyleTransfer (never copied
into this project). For each pair and seed it runs the reference
(run_reference.py: Debian's python3-torch on the CPU, our VGG19 weights),
build/nnst in reference mode (--compat reference) and in the default mode,
then prints the luminance SSIM between the outputs (the SSIM of nnst score:
11 x 11 Gaussian window, BT.601 luma) and `nnst score --json` of each.
Outputs already in --out are reused (delete them to rerun). The inputs are
first written as PNG with Pillow, so both programs read the same pixels
(the reference decodes JPEG with Pillow, nnst with Go's decoder).
Build nnst first: go build -o build/nnst ./cmd/nnst.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def luma(path, size=None):
    im = Image.open(path).convert("RGB")
    if size is not None and im.size != size:
        im = im.resize(size, Image.BILINEAR)
    a = np.asarray(im, dtype=np.float64) / 255.
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def gauss_filter(x, k=11, sigma=1.5):
    g = np.exp(-((np.arange(k) - (k - 1) / 2) ** 2) / (2 * sigma * sigma))
    g /= g.sum()
    # "valid" positions only, rows then columns
    x = np.stack([x[:, i:x.shape[1] - k + 1 + i] for i in range(k)], 0)
    x = np.tensordot(g, x, 1)
    x = np.stack([x[i:x.shape[0] - k + 1 + i] for i in range(k)], 0)
    return np.tensordot(g, x, 1)


def ssim(pa, pb):
    """Luminance SSIM of two images; b is resized to a's size if they differ."""
    a = luma(pa)
    b = luma(pb, (a.shape[1], a.shape[0]))
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = gauss_filter(a), gauss_filter(b)
    va = gauss_filter(a * a) - ma * ma
    vb = gauss_filter(b * b) - mb * mb
    cov = gauss_filter(a * b) - ma * mb
    s = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def run(cmd, log):
    t = time.time()
    with open(log, "w") as fh:
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\nsee %s" % (r.returncode, " ".join(cmd), log))
    return time.time() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, help="checkout of nkolkin13/NeuralNeighborStyleTransfer")
    p.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "images"))
    p.add_argument("--pairs", default="c1:s4,c2:s1,c3:s5")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--scales", type=int, default=4)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--nnst", default=os.path.join(ROOT, "build", "nnst"))
    p.add_argument("--model", default=os.path.join(ROOT, "build", "models", "vgg19.safetensors"))
    p.add_argument("--out", default="/tmp/nnst-parity")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    os.makedirs(os.path.join(a.out, "in"), exist_ok=True)
    common = ["--size", str(a.size), "--steps", str(a.steps), "--scales", str(a.scales)]
    print("size %d, %d steps, %d scales, seeds %s" % (a.size, a.steps, a.scales, seeds))
    for pair in a.pairs.split(","):
        c, s = pair.split(":")
        ins = []
        for name in ("content-" + c, "style-" + s):
            src = [f for f in os.listdir(a.images) if f.startswith(name + ".")][0]
            dst = os.path.join(a.out, "in", name + ".png")
            if not os.path.exists(dst):
                Image.open(os.path.join(a.images, src)).convert("RGB").save(dst)
            ins.append(dst)
        outs = {}
        for seed in seeds:
            for kind in ("ref", "compat", "default"):
                o = os.path.join(a.out, "%s-%s-%s-%d.png" % (c, s, kind, seed))
                outs[kind, seed] = o
                if os.path.exists(o):
                    continue
                if kind == "ref":
                    cmd = [sys.executable, os.path.join(HERE, "run_reference.py"), "--reference", a.reference,
                           "--model", a.model, "--seed", str(seed), "--threads", str(os.cpu_count())]
                else:
                    cmd = [a.nnst, "stylize", "--model", a.model, "--seed", str(seed), "--quiet"]
                    if kind == "compat":
                        cmd += ["--compat", "reference"]
                cmd += ["--content", ins[0], "--style", ins[1], "--output", o] + common
                secs = run(cmd, o + ".log")
                print("  %s %s seed %d: %.0f s" % (pair, kind, seed, secs), flush=True)
        print("\n%s (content-%s, style-%s)" % (pair, c, s))
        keys = sorted(outs)
        for i, ka in enumerate(keys):
            for kb in keys[i + 1:]:
                print("  ssim %-10s %-10s %.3f" % ("%s/%d" % ka, "%s/%d" % kb, ssim(outs[ka], outs[kb])))
        for k in keys:
            r = subprocess.run([a.nnst, "score", "--model", a.model, "--content", ins[0], "--style", ins[1],
                                "--output", outs[k], "--json"], capture_output=True, text=True, cwd=ROOT)
            print("  score %-10s %s" % ("%s/%d" % k, r.stdout.strip() or r.stderr.strip()), flush=True)


if __name__ == "__main__":
    main()
