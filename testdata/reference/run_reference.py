#!/usr/bin/python3
"""Runs the public NNST reference (a checkout of
nkolkin13/NeuralNeighborStyleTransfer, given on the command line, never
copied here) on the CPU with our VGG19 weights, as its styleTransfer.py
does, with the size, steps, scales and seed as options.

    /usr/bin/python3 testdata/reference/run_reference.py --reference DIR \
        --content C --style S --output O [--size 512] [--steps 200] \
        [--scales 4] [--seed 0] [--model build/models/vgg19.safetensors]

Needs Debian's python3-torch, python3-numpy and python3-imageio. The
reference's own network (torchvision's VGG16, downloaded) is replaced by
the VGG19 of our model file, with its input convention (BGR, 0..255, mean
subtracted), so that both programs use the same weights: the reference
asks for VGG16's layers 1, 3, 6, 8, 11, 13, 15, 18, 20, 22 (relu1_1 ..
relu4_3) and gets VGG19's layers of the same names. Everything else is the
reference's code: loading and resizing (utils.misc.load_path_for_pytorch),
produce_stylization, the uint8 conversion and imageio's imwrite. On a torch
without CUDA, Tensor.cuda() is made a no-op: the reference's zca.py calls
it even in its --cpu mode.
"""
import argparse
import json
import os
import random
import struct
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

# VGG16 feature indexes of the reference's taps, by name.
TAPS = {1: "relu1_1", 3: "relu1_2", 6: "relu2_1", 8: "relu2_2", 11: "relu3_1",
        13: "relu3_2", 15: "relu3_3", 18: "relu4_1", 20: "relu4_2", 22: "relu4_3"}


def load_safetensors(path):
    with open(path, "rb") as fh:
        b = fh.read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    meta = head.pop("__metadata__", {})
    dt = {"F16": np.float16, "F32": np.float32}
    out = {}
    for name, e in head.items():
        s, t = e["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + t], dtype=dt[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(a.astype(np.float32))
    return out, meta


class VGG19File(torch.nn.Module):
    """Stands in for the reference's Vgg16Pretrained: forward(x, inds, concat)."""

    def __init__(self, path):
        super().__init__()
        self.w, meta = load_safetensors(path)
        self.layers = meta["layers"].split(",")
        norm = json.loads(meta["input"])
        self.order = norm["Order"]
        self.scale = float(norm["Scale"])
        self.mean = torch.tensor(norm["Mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(norm["Std"]).view(1, 3, 1, 1)

    def forward(self, x_in, inds=(1, 3, 6, 8, 11, 13, 15, 22), concat=True):
        assert not concat, "the reference asks for lists of taps only"
        want = {TAPS[i] for i in inds}
        x = x_in
        if self.order == "bgr":
            x = x[:, [2, 1, 0]]
        x = (x * self.scale - self.mean) / self.std
        taps = {}
        for name in self.layers:
            if name.startswith("pool"):
                x = F.max_pool2d(x, 2, 2)
                continue
            x = F.relu(F.conv2d(x, self.w[name + ".weight"], self.w[name + ".bias"], padding=1))
            relu = "relu" + name[4:]
            if relu in want:
                taps[relu] = x
                if len(taps) == len(want):
                    break
        # In the order of the network, as the reference's loop appends them.
        return [taps[TAPS[i]] for i in sorted(inds)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", required=True, help="checkout of nkolkin13/NeuralNeighborStyleTransfer")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--model", default="build/models/vgg19.safetensors")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--scales", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.75)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    # The reference's network module, replaced before anything imports it.
    vgg = types.ModuleType("pretrained.vgg")
    vgg.Vgg16Pretrained = lambda: VGG19File(a.model)
    pkg = types.ModuleType("pretrained")
    pkg.vgg = vgg
    sys.modules["pretrained"], sys.modules["pretrained.vgg"] = pkg, vgg
    sys.path.insert(0, os.path.abspath(a.reference))
    from imageio import imwrite
    from utils import misc
    from utils.stylize import produce_stylization

    # As styleTransfer.py, with the seed an option (it fixes 0).
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    misc.USE_GPU = False
    # Its colour matching (utils/zca.py) calls .cuda() even with --cpu, which
    # fails on a torch without CUDA: make that call a no-op there.
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    cnn = vgg.Vgg16Pretrained()
    phi = lambda x, y, z: cnn.forward(x, inds=y, concat=z)
    content = misc.load_path_for_pytorch(a.content, target_size=a.size).unsqueeze(0)
    style = misc.load_path_for_pytorch(a.style, target_size=a.size).unsqueeze(0)
    start = time.time()
    out = produce_stylization(content, style, phi, max_iter=a.steps, lr=2e-3,
                              content_weight=1. - a.alpha, max_scls=a.scales,
                              flip_aug=True, content_loss=False, dont_colorize=False)
    print("reference: %s in %.0f s" % (a.output, time.time() - start), file=sys.stderr)
    im = np.clip(out[0].permute(1, 2, 0).detach().cpu().numpy(), 0., 1.)
    imwrite(a.output, (im * 255).astype(np.uint8))


if __name__ == "__main__":
    main()
