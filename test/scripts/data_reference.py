# Reference values for test/data_transforms.test.ts, written to test/fixtures/data/blur.json:
# torchvision's gaussian_blur on tensors (a 9-tap Gaussian kernel exp(-x^2 / (2 sigma^2)),
# normalised; reflect padding; one 2-D convolution per channel), written with PyTorch 1.13 ops
# because torchvision is not installed. Run: /usr/bin/python3 test/scripts/data_reference.py
import json
import os

import torch
import torch.nn.functional as F


def kernel1d(size, sigma):
    half = (size - 1) * 0.5
    x = torch.linspace(-half, half, steps=size, dtype=torch.float64)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    return pdf / pdf.sum()


def blur(img, sigma, size=9):
    k = kernel1d(size, sigma)
    k2 = torch.outer(k, k)  # (size, size)
    c = img.shape[0]
    w = k2.expand(c, 1, size, size)
    pad = size // 2
    x = F.pad(img[None], [pad, pad, pad, pad], mode="reflect")
    return F.conv2d(x, w, groups=c)[0]


torch.manual_seed(0)
cases = []
for (c, h, w), sigma in [((1, 7, 9), 0.1), ((1, 7, 9), 0.8), ((3, 5, 6), 1.3), ((1, 12, 11), 2.0)]:
    img = torch.rand(c, h, w, dtype=torch.float64)
    out = blur(img, sigma)
    cases.append({"shape": [c, h, w], "sigma": sigma, "x": img.flatten().tolist(), "y": out.flatten().tolist()})

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "data", "blur.json")
with open(path, "w") as f:
    json.dump(cases, f)
print("wrote", path)
