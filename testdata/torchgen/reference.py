#!/usr/bin/python3
"""Writes the fixtures of reference mode's tests into testdata/torch.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 testdata/torchgen/reference.py

Each case follows what the public reference (nkolkin13/
NeuralNeighborStyleTransfer) does, written out here in plain torch on small
tensors (the reference itself is not needed): its input resize, its chunked
centring in replace_features, its final pass's sampling with reused samples,
its stacking of the style's rotations, and Python's random draws.
Output: testdata/torch/reference.bin (little-endian float32) and
reference.json (the index, as gen.py writes it). The Go tests never need
torch.
"""
import random

import torch
import torch.nn.functional as F

from fixtures import Fixtures

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

fx = Fixtures()
put = fx.put


g = torch.Generator()
g.manual_seed(20)
meta = {"torch": torch.__version__}

# --- input resize: load_path_for_pytorch after imread/255 ---
def ref_dims(h, w, size):
    fac = float(size) / max(h, w)
    return int(h * fac), int(w * fac)

img = torch.randint(0, 256, (3, 23, 37), generator=g).float() / 255.
put("fit/img", img)
fits = []
for size in (16, 50, 37):
    h, w = ref_dims(img.shape[1], img.shape[2], size)
    out = F.interpolate(img[None], (h, w), mode="bilinear", align_corners=True)[0]
    put("fit/%d" % size, out)
    fits.append(size)
meta["fit"] = fits
# sizes where truncating the float product differs from rounding
dims = []
for (h, w) in ((683, 1024), (1000, 1333), (768, 588), (607, 768), (477, 500), (1000, 1000)):
    for size in (256, 352, 384, 512, 1024):
        dims.append([h, w, size] + list(ref_dims(h, w, size)))
for w in range(300, 4000):
    size = 512
    if len(dims) >= 40:
        break
    h, _ = ref_dims(w, 5000, size)
    if h != w * size // 5000:  # the float product fell below the exact one
        dims.append([w, 5000, size] + list(ref_dims(w, 5000, size)))
meta["dims"] = dims

# --- replace_features: chunk size, and centring per chunk ---
meta["chunk"] = [[m, 128 ** 2 // max(1, m // 128 ** 2)]
                 for m in (1, 16383, 16384, 32767, 32768, 49152, 65536, 65537, 100000, 262144)]


def centre(x):
    return x - x.mean(0, keepdim=True)


def cos_dist(x, y):
    xn = x / x.pow(2).sum(1, keepdim=True).sqrt()
    yn = y / y.pow(2).sum(1, keepdim=True).sqrt()
    return 1. - xn @ yn.t()


C, QH, QW, CHUNK = 6, 5, 7, 8
query = torch.randn(C, QH, QW, generator=g)
query += torch.linspace(-2, 2, QH)[None, :, None] * torch.randn(C, 1, 1, generator=g)
style = [torch.randn(C, 3, 4, generator=g), torch.randn(C, 4, 3, generator=g) + 0.5]
ref = torch.cat([s.reshape(C, -1).t() for s in style], 0)  # rows, rotation 0 first
src = query.reshape(C, -1).t()


def replace(chunk):
    out = []
    for b in range(0, src.shape[0], chunk):
        d = cos_dist(centre(ref), centre(src[b:b + chunk]))
        out.append(ref[d.argmin(0)])
    return torch.cat(out, 0).t().reshape(C, QH, QW)


chunked, whole = replace(CHUNK), replace(src.shape[0])
assert not torch.equal(chunked, whole), "centring per chunk must change some matches"
put("chunk/query", query)
put("chunk/style0", style[0])
put("chunk/style1", style[1])
put("chunk/target", chunked)
meta["chunk_size"] = CHUNK

# --- the style's rotations as the final pass stacks them ---
x = torch.randn(2, 5, 7, generator=g)[None]
augs = [torch.flip(x, [2]).transpose(2, 3), torch.flip(x, [2, 3]), torch.flip(x, [3]).transpose(2, 3)]
stack = x
for i, a in enumerate(augs):  # the features are the image itself here
    stack = torch.cat([stack, a if i == 1 else a.transpose(2, 3)], 2)
put("stack/x", x[0])
put("stack/out", stack[0])

# --- one final-pass step with reused samples (grid GRID instead of 64) ---
GRID, SEED = 4, 7
shapes = [(2, 12, 10), (4, 9, 8), (8, 4, 4), (16, 2, 2)]
styles = [(2, 28, 9), (4, 4 * 7, 6), (8, 12, 3), (16, 4, 2)]
taps = [torch.randn(*s, generator=g).requires_grad_(True) for s in shapes]
stys = [torch.randn(*s, generator=g) + 0.2 for s in styles]
random.seed(SEED)
ell, cs_tmp, offsets = 0., None, []
for cur, s_tmp in zip(taps, stys):
    cur, s_tmp = cur[None], s_tmp[None]
    chans = s_tmp.size(1)
    if max(cur.size(2), cur.size(3)) > GRID:
        stride = max(cur.size(2), cur.size(3)) // GRID
        a, b = random.randint(0, stride - 1), random.randint(0, stride - 1)
        offsets.append([stride, a, b])
        s_tmp = s_tmp[:, :, a::stride, b::stride]
        cs_tmp = cur[:, :, a::stride, b::stride]
    r_col = s_tmp.contiguous().view(1, chans, -1)
    s_col = cs_tmp.contiguous().view(1, chans, -1)
    d = cos_dist(centre(r_col[0].t()), centre(s_col[0].t()))
    ell = ell + d.min(0)[0].mean()
grads = torch.autograd.grad(ell, taps, allow_unused=True)  # reusing taps get none
grads = [torch.zeros_like(t) if gr is None else gr for t, gr in zip(taps, grads)]
for i in range(len(taps)):
    put("split/tap%d" % i, taps[i])
    put("split/style%d" % i, stys[i])
    put("split/grad%d" % i, grads[i])
put("split/loss", ell.reshape(1))
meta["split"] = {"grid": GRID, "seed": SEED, "offsets": offsets}

# --- Python's random: randint(0, n-1) after seed(s) ---
draws = []
for s in (0, 1, 7, 123456789, 2 ** 32 + 5, 2 ** 63 + 11):
    random.seed(s)
    ns = [1, 2, 3, 4, 5, 7, 8, 16, 1, 9, 2, 3] * 4
    draws.append({"seed": str(s), "n": ns, "v": [random.randint(0, n - 1) for n in ns]})
random.seed(0)
draws.append({"seed": "0", "n": [3] * 2000, "v": [random.randint(0, 2) for _ in range(2000)]})
meta["random"] = draws

fx.write("reference", meta)
