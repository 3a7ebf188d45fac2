#!/usr/bin/python3
"""Writes the fixtures of `nnst score` (core/score) into testdata/torch.

Run from the repository root with a Python that has torch (Debian's):

    /usr/bin/python3 testdata/torchgen/score.py

A small VGG19-shaped network with seeded random weights (widths divided by
16), three small images, and the five scores computed with plain torch from
the definitions in issue 16: split, hyper (nearest centred-cosine distance,
features sampled on a grid of at most GRID per side), gram, content, ssim.
Output: testdata/torch/score.bin (little-endian float32) and score.json (the
index, as gen.py writes it). The Go tests never need torch.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from fixtures import Fixtures

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float64)

GRID = 8  # small, so the tests sample with strides above 1
SHRINK = 16

fx = Fixtures()
put = fx.put


g = torch.Generator()
g.manual_seed(2026)

LAYERS = ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
          "conv3_1", "conv3_2", "conv3_3", "conv3_4", "pool3",
          "conv4_1", "conv4_2", "conv4_3"]
WIDTH = {1: 64, 2: 128, 3: 256, 4: 512}
TAPS = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2",
        "relu3_3", "relu4_1", "relu4_2", "relu4_3"]
GRAM = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]

weights = {}
cin = 3
for name in LAYERS:
    if name.startswith("pool"):
        continue
    cout = WIDTH[int(name[4])] // SHRINK
    w = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (cin * 9))
    b = torch.randn(cout, generator=g) * 0.05
    # Round through float32, as the Go side reads them.
    w, b = w.float().double(), b.float().double()
    weights[name] = (w, b)
    put("w/" + name, w)
    put("b/" + name, b)
    cin = cout


def image(h, w, seed):
    r = torch.Generator()
    r.manual_seed(seed)
    x = torch.rand(3, h // 4, w // 4, generator=r)
    x = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    x = (x + 0.15 * torch.rand(3, h, w, generator=r)).clamp(0, 1)
    return x.float().double()


H, W = 48, 40
content = image(H, W, 1)
style = image(40, 48, 2)  # another shape
output = (0.6 * content + 0.4 * image(H, W, 3)).float().double()
put("content", content)
put("style", style)
put("output", output)

# Keras "caffe" input: BGR, 0..255, minus the mean.
MEAN = torch.tensor([103.939, 116.779, 123.68])


def taps(img):
    x = img.flip(0) * 255 - MEAN[:, None, None]
    x = x[None]
    out = {}
    for name in LAYERS:
        if name.startswith("pool"):
            x = F.max_pool2d(x, 2, 2)
            continue
        w, b = weights[name]
        x = F.relu(F.conv2d(x, w, b, padding=1))
        out["relu" + name[4:]] = x[0]
    return [out[t] for t in TAPS]


def hyper(ts, h, w):
    parts = [F.interpolate((t / t.shape[0])[None], size=(h, w), mode="bilinear", align_corners=True)[0] for t in ts]
    return torch.cat(parts, 0)


def sample(t):
    s = -(-max(t.shape[1], t.shape[2]) // GRID)
    return t[:, ::s, ::s]


def vectors(t):
    v = t.reshape(t.shape[0], -1).T  # positions x channels
    v = v - v.mean(0, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-8)


def nearest(o, s):
    sim = vectors(o) @ vectors(s).T
    return (1 - sim.max(1).values).mean().item()


def gram(t):
    f = t.reshape(t.shape[0], -1)
    return f @ f.T / f.numel()


def ssim(a, b):
    coef = torch.tensor([0.299, 0.587, 0.114])
    ya = (a * coef[:, None, None]).sum(0)[None, None]
    yb = (b * coef[:, None, None]).sum(0)[None, None]
    k = 11
    x = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g1 = torch.exp(-x * x / (2 * 1.5 ** 2))
    g1 = g1 / g1.sum()
    win = (g1[:, None] * g1[None, :])[None, None]
    f = lambda z: F.conv2d(z, win)
    ma, mb = f(ya), f(yb)
    va, vb, cov = f(ya * ya) - ma * ma, f(yb * yb) - mb * mb, f(ya * yb) - ma * mb
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return m.mean().item()


to, ts, tc = taps(output), taps(style), taps(content)
split = sum(nearest(sample(a), sample(b)) for a, b in zip(to, ts))
ho, hs, hc = hyper(to, H // 4, W // 4), hyper(ts, 40 // 4, 48 // 4), hyper(tc, H // 4, W // 4)
hyp = nearest(sample(ho), sample(hs))
gr = sum(((gram(to[TAPS.index(n)]) - gram(ts[TAPS.index(n)])) ** 2).mean().item() for n in GRAM)
content_d = (1 - (vectors(ho) * vectors(hc)).sum(1)).mean().item()
scores = {"split": split, "hyper": hyp, "gram": gr, "content": content_d, "ssim": ssim(output, content)}

meta = {"torch": torch.__version__, "grid": GRID, "shrink": SHRINK, "scores": scores}
fx.write("score", meta)
print(json.dumps(scores), file=sys.stderr)
