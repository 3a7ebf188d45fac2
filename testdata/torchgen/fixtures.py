"""The fixture writer that the torchgen scripts share: tensors as
little-endian float32, concatenated into one .bin, with a .json index
({"meta": ..., "tensors": {name: {"shape", "offset" (floats), "count"}}})."""
import json
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch")


class Fixtures:
    def __init__(self):
        self.blobs, self.index, self.offset = [], {}, 0

    def put(self, name, t):
        t = t.detach().to(torch.float32).contiguous()
        assert name not in self.index, name
        flat = t.reshape(-1)
        self.index[name] = {"shape": list(t.shape), "offset": self.offset, "count": flat.numel()}
        self.blobs.append(flat.numpy().astype("<f4").tobytes())
        self.offset += flat.numel()

    def write(self, stem, meta, bin_name=None):
        """Writes OUT/<stem>.json and OUT/<bin_name or stem.bin>."""
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, bin_name or stem + ".bin"), "wb") as fh:
            for b in self.blobs:
                fh.write(b)
        with open(os.path.join(OUT, stem + ".json"), "w") as fh:
            json.dump({"meta": meta, "tensors": self.index}, fh, indent=0, sort_keys=True)
            fh.write("\n")
        print("wrote %d floats (%d bytes) in %d tensors" % (self.offset, self.offset * 4, len(self.index)), file=sys.stderr)
