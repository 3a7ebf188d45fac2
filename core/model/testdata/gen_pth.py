#!/usr/bin/python3
"""Generates the tiny torchvision-named VGG fixtures for model tests.

Run from this folder with Debian's python3-torch: /usr/bin/python3 gen_pth.py
Writes tiny_vgg16.pth (zip format), tiny_vgg19_legacy.pth (pre-1.6 format,
"module." prefix, a strided and an offset tensor), tiny_vgg16.safetensors
(F32 + BF16 + F16) and expected.json. Widths are VGG's divided by 32.
"""
import json, struct
from collections import OrderedDict
import torch

torch.manual_seed(7)

def layers(block3):
    out, i = [], 0
    for block, n, w in [(1, 2, 64), (2, 2, 128), (3, block3, 256), (4, 3, 512)]:
        for c in range(1, n + 1):
            out.append((f"conv{block}_{c}", i, w // 32))
            i += 2
        i += 1  # pool
    return out

def state(block3, tricks=False):
    sd, expect, cin = OrderedDict(), {}, 3
    for name, idx, w in layers(block3):
        weight = (torch.randn(w, cin, 3, 3) * 0.3).float()
        bias = (torch.randn(w) * 0.1).float()
        if tricks and name == "conv2_1":  # non-contiguous view
            weight = weight.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
        if tricks and name == "conv3_1":  # storage offset
            bias = torch.cat([torch.zeros(5), bias])[5:]
        sd[f"features.{idx}.weight"] = weight
        sd[f"features.{idx}.bias"] = bias
        expect[name] = {"shape": list(weight.shape),
                        "weight": weight.flatten()[:6].tolist(),
                        "bias": bias[:3].tolist(),
                        "wsum": float(weight.double().sum()),
                        "bsum": float(bias.double().sum())}
        cin = w
    sd["classifier.0.weight"] = torch.randn(4, 4)  # ignored
    return sd, expect

def save_safetensors(path, sd):
    hdr, blobs, off = {}, [], 0
    for i, (k, t) in enumerate(sd.items()):
        dt = ["F32", "BF16", "F16"][i % 3]
        t = t.to({"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[dt]).contiguous()
        b = t.view(torch.int16).numpy().tobytes() if dt != "F32" else t.numpy().tobytes()
        hdr[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hdr["__metadata__"] = {"format": "pt"}
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

expected = {}
sd16, expected["vgg16"] = state(3)
torch.save(sd16, "tiny_vgg16.pth")
save_safetensors("tiny_vgg16.safetensors", sd16)
sd19, expected["vgg19"] = state(4, tricks=True)
sd19 = OrderedDict(("module." + k, v) for k, v in sd19.items())
torch.save(sd19, "tiny_vgg19_legacy.pth", _use_new_zipfile_serialization=False)
with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1)
