#!/usr/bin/python3
"""Writes the PyTorch reference fixtures of the Go tests into testdata/torch.

Run from the repository root with a Python that has torch (Debian's):

    /usr/bin/python3 testdata/torchgen/gen.py

Output: testdata/torch/fixtures.bin (little-endian float32, concatenated) and
testdata/torch/index.json ({name: {"shape": [...], "offset": floats, "count": n}},
plus "meta" entries with integers). Everything uses fixed seeds, so a rerun
with the same torch gives the same files. The Go tests never need torch.
"""

import torch
import torch.nn.functional as F

from fixtures import Fixtures

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

fx = Fixtures()
put = fx.put


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


# --- bilinear interpolation, both align modes, forward and input gradient ---
RESIZE = [
    ((3, 7, 9), (5, 4)),
    ((3, 5, 6), (11, 13)),
    ((1, 1, 1), (3, 4)),  # one pixel up
    ((2, 4, 5), (1, 1)),  # down to one pixel
    ((2, 1, 5), (1, 3)),  # one row
    ((1, 6, 1), (13, 1)),  # one column, up
    ((2, 8, 6), (4, 3)),  # exact halving (pyramid)
    ((2, 9, 7), (4, 3)),  # odd halving (pyramid)
    ((2, 4, 3), (9, 7)),  # pyramid upsampling back
    ((2, 5, 5), (5, 5)),  # identity size
    ((1, 3, 17), (7, 2)),  # mixed up/down
]
resize_cases = []
for i, ((c, h, w), (oh, ow)) in enumerate(RESIZE):
    for ac in (False, True):
        name = "resize/%d/%s" % (i, "ac" if ac else "noac")
        r = gen(100 + i)
        x = (torch.rand(c, h, w, generator=r) * 2 - 1).requires_grad_(True)
        up = torch.randn(c, oh, ow, generator=r)
        y = F.interpolate(x[None], size=(oh, ow), mode="bilinear", align_corners=ac)[0]
        (gx,) = torch.autograd.grad(y, x, up)
        put(name + "/x", x)
        put(name + "/y", y)
        put(name + "/gy", up)
        put(name + "/gx", gx)
        resize_cases.append({"name": name, "align": ac, "h": oh, "w": ow})

# --- conv2d 3x3, padding 1, with bias ---
CONV = [(3, 4, 7, 9), (3, 5, 1, 1), (3, 2, 5, 1), (4, 6, 6, 11), (3, 3, 1, 7)]
conv_cases = []
for i, (cin, cout, h, w) in enumerate(CONV):
    name = "conv/%d" % i
    r = gen(200 + i)
    x = (torch.rand(cin, h, w, generator=r) * 2 - 1).requires_grad_(True)
    wt = torch.randn(cout, cin, 3, 3, generator=r) * 0.3
    b = torch.randn(cout, generator=r) * 0.1
    y = F.conv2d(x[None], wt, b, padding=1)[0]
    up = torch.randn(cout, h, w, generator=r)
    (gx,) = torch.autograd.grad(y, x, up)
    for k, v in (("x", x), ("w", wt), ("b", b), ("y", y), ("gy", up), ("gx", gx)):
        put(name + "/" + k, v)
    conv_cases.append({"name": name, "cin": cin, "cout": cout, "h": h, "w": w})

# --- max_pool2d 2x2 stride 2, distinct values ---
POOL = [(3, 7, 9), (2, 5, 4), (1, 3, 3), (2, 2, 7), (1, 8, 8)]
pool_cases = []
for i, (c, h, w) in enumerate(POOL):
    name = "pool/%d" % i
    r = gen(300 + i)
    x = (torch.randperm(c * h * w, generator=r).float() / (c * h * w) - 0.5).reshape(c, h, w)
    x.requires_grad_(True)
    y = F.max_pool2d(x[None], 2, 2)[0]
    up = torch.randn(*y.shape, generator=r)
    (gx,) = torch.autograd.grad(y, x, up)
    for k, v in (("x", x), ("y", y), ("gy", up), ("gx", gx)):
        put(name + "/" + k, v)
    pool_cases.append({"name": name})

# --- Adam, lr 2e-3, defaults otherwise ---
r = gen(400)
p = torch.nn.Parameter(torch.randn(2, 3, 5, generator=r))
put("adam/p0", p)
opt = torch.optim.Adam([p], lr=2e-3)
ADAM_STEPS = 6
for t in range(ADAM_STEPS):
    gr = torch.randn(2, 3, 5, generator=r) * (10.0 ** (t % 3 - 1))
    if t == 3:
        gr[0, 0, :] = 0  # zero gradients on some entries
    p.grad = gr.clone()
    opt.step()
    put("adam/g%d" % t, gr)
    put("adam/p%d" % (t + 1), p)

# --- rot90 over dims (1, 2) ---
r = gen(500)
x = torch.randn(2, 3, 5, generator=r)
put("rot90/x", x)
for k in (1, 2, 3, -1):
    put("rot90/k%d" % k, torch.rot90(x, k, (1, 2)))


# --- Laplacian pyramid, NNST.md section 5 ---
def dec(x, levels):
    pyr = []
    cur = x
    for _ in range(levels):
        h, w = cur.shape[-2:]
        small = F.interpolate(cur, (h // 2, w // 2), mode="bilinear", align_corners=False)
        pyr.append(cur - F.interpolate(small, (h, w), mode="bilinear", align_corners=False))
        cur = small
    pyr.append(cur)
    return pyr


def syn(pyr):
    cur = pyr[-1]
    for i in range(len(pyr) - 2, -1, -1):
        cur = pyr[i] + F.interpolate(cur, pyr[i].shape[-2:], mode="bilinear", align_corners=False)
    return cur


r = gen(600)
img = torch.rand(1, 3, 37, 29, generator=r)
LEVELS = 3
pyr = dec(img, LEVELS)
put("pyr/img", img[0])
for i, t in enumerate(pyr):
    put("pyr/dec%d" % i, t[0])
# syn of an unrelated pyramid, and the gradient of each level
other = [torch.randn(*t.shape, generator=r).requires_grad_(True) for t in pyr]
out = syn(other)
up = torch.randn(*out.shape, generator=r)
grads = torch.autograd.grad(out, other, up)
for i, t in enumerate(other):
    put("pyr/q%d" % i, t[0])
    put("pyr/gq%d" % i, grads[i][0])
put("pyr/synq", out[0])
put("pyr/gsyn", up[0])

# --- hypercolumns: divide by channels, bilinear(ac) to (h//4, w//4), concat ---
r = gen(700)
H, W = 22, 17
taps = [torch.randn(c, h, w, generator=r) for (c, h, w) in ((2, 22, 17), (3, 11, 8), (4, 5, 4), (5, 2, 2))]
taps = [t.requires_grad_(True) for t in taps]
hc = torch.cat([F.interpolate(t[None] / t.shape[0], (H // 4, W // 4), mode="bilinear", align_corners=True)[0] for t in taps], 0)
up = torch.randn(*hc.shape, generator=r)
grads = torch.autograd.grad(hc, taps, up)
for i, t in enumerate(taps):
    put("hyper/tap%d" % i, t)
    put("hyper/gtap%d" % i, grads[i])
put("hyper/out", hc)
put("hyper/gout", up)


# --- cosine loss of NNST.md section 6 (squared norms clamped to [1e-8, 1e8]) ---
def cos_loss(f, t):
    fn = f / f.pow(2).sum(0, keepdim=True).clamp(1e-8, 1e8).sqrt()
    tn = t / t.pow(2).sum(0, keepdim=True).clamp(1e-8, 1e8).sqrt()
    return (1 - (fn * tn).sum(0)).mean()


r = gen(800)
f = torch.randn(9, 5, 7, generator=r) + 0.3
t = torch.randn(9, 5, 7, generator=r) + 0.3
f[:, 0, 0] *= 1e-6  # squared norm below the clamp
f = f.requires_grad_(True)
loss = cos_loss(f, t)
(gf,) = torch.autograd.grad(loss, f)
put("cos/f", f)
put("cos/t", t)
put("cos/loss", loss.reshape(1))
put("cos/gf", gf)

meta = {
    "torch": torch.__version__,
    "resize": resize_cases,
    "conv": conv_cases,
    "pool": pool_cases,
    "adam_steps": ADAM_STEPS,
    "pyr_levels": LEVELS,
    "hyper_size": [H // 4, W // 4],
}
fx.write("index", meta, "fixtures.bin")
