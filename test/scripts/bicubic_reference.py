#!/usr/bin/env python3
"""Writes test/fixtures/bicubic/*.json: PyTorch references for the bicubic kernels.

Run from the repository root with Debian's PyTorch (python3-torch, 1.13):

    /usr/bin/python3 test/scripts/bicubic_reference.py

Each file holds a list of cases. A case records the input x [N, C, H, W], how F.interpolate was
called (scale factors or a size, antialias), the source steps our kernel receives (1 / scale
factor, else in / out, as PyTorch computes them), PyTorch's output y, a fixed random upstream
gradient dy and the input gradient dx. Values are stored as the shortest decimal that round-trips
in the case's dtype. Every tensor is row-major.

dx is PyTorch's gradient except where its backward is not the adjoint of its forward: with
scale factors that leave the size unchanged (e.g. 5 -> floor(5 * 5.1 / 5) = 5, step 5 / 5.1)
PyTorch's upsample_bicubic2d_backward copies dy although the forward interpolates. There dx is
the exact adjoint, Aᵀ dy, with A the forward map measured on one-hot inputs (dx_source
"adjoint"), which is what our kernel implements. Elsewhere without antialias, PyTorch's backward
recomputes the weights with different roundings from its forward (up to ~1e-6 relative apart),
so the float32 cases also carry dx_adjoint = Aᵀ dy.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'bicubic')
DTYPES = {'float32': torch.float32, 'float64': torch.float64}


def fmt(values, dtype):
    """JSON array text of `values` with the shortest round-trip decimals of `dtype`."""
    def one(v):
        if 1e-4 <= abs(v) < 1e4 or v == 0:
            return np.format_float_positional(v, unique=True, trim='-')
        return np.format_float_scientific(v, unique=True, trim='-')

    flat = np.asarray(values).reshape(-1)
    scalar = np.float32 if dtype == 'float32' else np.float64
    return '[' + ','.join(one(scalar(v)) for v in flat) + ']'


def interpolate(x, call):
    kw = dict(mode='bicubic', align_corners=False, antialias=call['antialias'])
    if call['scale_factor'] is not None:
        return F.interpolate(x, scale_factor=tuple(call['scale_factor']), **kw)
    return F.interpolate(x, size=tuple(call['size']), **kw)


def adjoint_dx(x, dy, call):
    """Aᵀ dy with A measured by running the forward on one-hot planes (exact in x's dtype)."""
    n, c, h, w = x.shape
    eye = torch.eye(h * w, dtype=x.dtype).reshape(h * w, 1, h, w)
    a = interpolate(eye, call).reshape(h * w, -1).double()  # row k: output of one-hot k
    return (dy.double().reshape(n * c, -1) @ a.T).reshape(n, c, h, w).to(x.dtype)


def make_case(name, dtype, shape, seed, antialias, scale_factor=None, size=None, dinov2=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64).to(DTYPES[dtype])
    call = dict(antialias=antialias, scale_factor=scale_factor, size=size)
    xg = x.clone().requires_grad_(True)
    y = interpolate(xg, call)
    oh, ow = y.shape[2:]
    if scale_factor is not None:
        steps = [1.0 / scale_factor[0], 1.0 / scale_factor[1]]
    else:
        steps = [shape[2] / oh, shape[3] / ow]
    dy = torch.randn(*y.shape, generator=g, dtype=torch.float64).to(DTYPES[dtype])
    y.backward(dy)
    same_size = (oh, ow) == tuple(shape[2:])
    if same_size and not antialias and steps != [1.0, 1.0]:
        dx, source = adjoint_dx(x, dy, call), 'adjoint'
    else:
        dx, source = xg.grad, 'torch'
    # Without antialias PyTorch's backward recomputes the weights with other roundings than its
    # forward (up to ~1e-6 relative apart), so float32 cases also carry the exact adjoint.
    dx_adjoint = adjoint_dx(x, dy, call) if dtype == 'float32' and not antialias and source == 'torch' else None
    fields = [
        ('name', json.dumps(name)), ('dtype', json.dumps(dtype)), ('antialias', json.dumps(antialias)),
        ('scale_factor', json.dumps(scale_factor)), ('size', json.dumps(list(size) if size else None)),
        ('dinov2', json.dumps(dinov2)), ('shape', json.dumps(list(shape))), ('out', json.dumps([oh, ow])),
        ('step', json.dumps(steps)), ('dx_source', json.dumps(source)),
        ('x', fmt(x.numpy(), dtype)), ('y', fmt(y.detach().numpy(), dtype)),
        ('dy', fmt(dy.numpy(), dtype)), ('dx', fmt(dx.numpy(), dtype)),
    ]
    if dx_adjoint is not None:
        fields.append(('dx_adjoint', fmt(dx_adjoint.numpy(), dtype)))
    return '{' + ', '.join(f'"{k}": {v}' for k, v in fields) + '}'


def dinov2_case(name, dtype, n, c, m, h0, w0, seed, antialias=False, offset=0.1):
    # DINOv2's interpolate_pos_encoding: scale_factor = ((h0 + 0.1) / M, (w0 + 0.1) / M)
    sf = [(h0 + offset) / m, (w0 + offset) / m]
    return make_case(name, dtype, [n, c, m, m], seed, antialias, scale_factor=sf,
                     dinov2={'M': m, 'h0': h0, 'w0': w0, 'offset': offset})


def size_case(name, dtype, shape, size, seed, antialias):
    return make_case(name, dtype, shape, seed, antialias, size=list(size))


def files():
    f32, f64 = 'float32', 'float64'
    return {
        'nonaa_scale': [
            dinov2_case('dinov2 M=4 -> 6x7 (up, non-square)', f32, 1, 3, 4, 6, 7, 1),
            dinov2_case('dinov2 M=4 -> 3x2 (down)', f32, 1, 3, 4, 3, 2, 2),
            dinov2_case('dinov2 M=4 -> 4x9 (H same size, step != 1)', f32, 1, 4, 4, 4, 9, 3),
            dinov2_case('dinov2 M=4 -> 8x8, N=2', f32, 2, 3, 4, 8, 8, 4),
            dinov2_case('dinov2 M=5 -> 7x3 (up/down)', f32, 1, 3, 5, 7, 3, 5),
            dinov2_case('dinov2 M=5 -> 2x2 (down)', f32, 1, 3, 5, 2, 2, 6),
            dinov2_case('dinov2 M=5 -> 5x5 (same size, step 5/5.1)', f32, 1, 3, 5, 5, 5, 7),
            dinov2_case('dinov2 M=5 -> 12x10', f32, 1, 3, 5, 12, 10, 8),
            dinov2_case('dinov2 M=10 -> 13x7', f32, 1, 2, 10, 13, 7, 9),
        ],
        'nonaa_size': [
            size_case('4x5 -> 7x9', f32, [1, 3, 4, 5], (7, 9), 11, False),
            size_case('6x6 -> 4x3', f32, [1, 3, 6, 6], (4, 3), 12, False),
            size_case('5x4 -> 5x9 (H unchanged, step 1)', f32, [1, 3, 5, 4], (5, 9), 13, False),
            size_case('3x7 -> 8x2, N=2', f32, [2, 3, 3, 7], (8, 2), 14, False),
            size_case('1x6 -> 3x4 (H = 1)', f32, [1, 3, 1, 6], (3, 4), 15, False),
        ],
        'aa': [
            size_case('AA 4x5 -> 9x7 (up)', f32, [1, 3, 4, 5], (9, 7), 21, True),
            size_case('AA 12x10 -> 5x3 (down)', f32, [1, 3, 12, 10], (5, 3), 22, True),
            size_case('AA 5x5 -> 3x8 (down/up)', f32, [1, 3, 5, 5], (3, 8), 23, True),
            size_case('AA 13x6 -> 2x13, N=2', f32, [2, 2, 13, 6], (2, 13), 24, True),
            size_case('AA 8x8 -> 8x3 (H unchanged)', f32, [1, 3, 8, 8], (8, 3), 25, True),
            size_case('AA 16x16 -> 3x5 (wide support)', f32, [1, 2, 16, 16], (3, 5), 26, True),
            dinov2_case('AA dinov2 M=5 -> 7x3 (scale factors)', f32, 1, 3, 5, 7, 3, 27, antialias=True),
            dinov2_case('AA dinov2 M=5 -> 3x8 (scale factors)', f32, 1, 3, 5, 3, 8, 28, antialias=True),
            dinov2_case('AA dinov2 M=5 -> 5x5 (same size, step 5/5.1)', f32, 1, 2, 5, 5, 5, 29, antialias=True),
        ],
        'float64': [
            dinov2_case('f64 dinov2 M=4 -> 6x7', f64, 1, 3, 4, 6, 7, 31),
            dinov2_case('f64 dinov2 M=5 -> 5x5 (same size)', f64, 1, 3, 5, 5, 5, 32),
            size_case('f64 6x6 -> 4x3', f64, [1, 3, 6, 6], (4, 3), 33, False),
            size_case('f64 AA 12x10 -> 5x3', f64, [1, 3, 12, 10], (5, 3), 34, True),
            size_case('f64 AA 4x5 -> 7x6', f64, [1, 3, 4, 5], (7, 6), 35, True),
            dinov2_case('f64 AA dinov2 M=5 -> 7x3', f64, 1, 3, 5, 7, 3, 36, antialias=True),
        ],
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for stem, cases in files().items():
        text = '[\n' + ',\n'.join(cases) + '\n]\n'
        path = os.path.join(OUT_DIR, stem + '.json')
        with open(path, 'w') as fh:
            fh.write(text)
        total += len(text)
        print(f'{os.path.relpath(path, ROOT)}: {len(cases)} cases, {len(text)} bytes')
    print(f'total {total} bytes (torch {torch.__version__})')


if __name__ == '__main__':
    sys.exit(main())
