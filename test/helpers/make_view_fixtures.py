"""Checkpoints for the `npz-stream view` tests, and what numpy says the page must show.

usage: make_view_fixtures.py OUT_DIR BINS  -> writes base.npz, tuned.npz, truncated.npz, flipped.npz into OUT_DIR and
prints the expectations as JSON: the tensor names, np.histogram counts of a few tensors, and the diff order by
||a - b|| / ||a|| computed in float64.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'gen'))
import bv_tree  # noqa: E402  (names and ranks of a PaliGemma 1 checkpoint)
from common import BFLOAT16  # noqa: E402

out_dir, bins = sys.argv[1], int(sys.argv[2])

# Small but not tiny: histograms need thousands of values. Every name and rank stays PaliGemma's.
bv_tree.VIT_W, bv_tree.VIT_L, bv_tree.VIT_MLP, bv_tree.VIT_H, bv_tree.VIT_HD, bv_tree.PATCH, bv_tree.TOKENS = 64, 3, 128, 4, 16, 14, 16
bv_tree.LLM_W, bv_tree.LLM_L, bv_tree.LLM_MLP, bv_tree.LLM_H, bv_tree.LLM_KV, bv_tree.LLM_HD, bv_tree.VOCAB = 96, 3, 192, 4, 1, 24, 1024

rng = np.random.default_rng(16)


def dtype_of(name):
    if name == 'llm/embedder/input_embedding':
        return BFLOAT16
    return np.float32 if name.startswith('llm/layers/attn/') else np.float16


def init(name, shape):
    """Roughly what a trained checkpoint holds: norms near 1, biases near 0, kernels ~ 1/sqrt(fan_in)."""
    if name.endswith('scale'):
        values = 1 + 0.1 * rng.standard_normal(shape)
    elif name.endswith('bias') or name.endswith('pos_embedding'):
        values = 0.02 * rng.standard_normal(shape)
    else:
        fan_in = shape[-2] if len(shape) >= 2 else 1
        values = rng.standard_normal(shape) / np.sqrt(fan_in)
    return values.astype(dtype_of(name))


class Shape:
    """A shape as a leaf (flattening walks into tuples)."""

    def __init__(self, dims):
        self.dims = dims


def as_leaves(tree):
    return {key: as_leaves(value) for key, value in tree.items()} if isinstance(tree, dict) else Shape(tree)


flat = bv_tree.tree_flatten_with_names(as_leaves(bv_tree.paligemma1_tiny_shapes()))
base = {name: init(name, leaf.dims) for name, leaf in flat}


def nudged(name, scale, fraction=1.0):
    a = base[name].astype(np.float64)
    mask = rng.random(a.shape) < fraction
    return (a + mask * scale * np.std(a) * rng.standard_normal(a.shape)).astype(base[name].dtype)


# A fine-tune: attention moved most, the head somewhat, one norm barely; pos_embedding re-sized for 448 px
# (4x the tokens); a LoRA tensor added.
tuned = dict(base)
tuned['llm/layers/attn/q_einsum/w'] = nudged('llm/layers/attn/q_einsum/w', 0.5)
tuned['llm/layers/attn/kv_einsum/w'] = nudged('llm/layers/attn/kv_einsum/w', 0.1)
tuned['img/head/kernel'] = nudged('img/head/kernel', 0.25)
tuned['llm/final_norm/scale'] = nudged('llm/final_norm/scale', 0.05, fraction=0.2)
tuned['img/pos_embedding'] = (0.02 * rng.standard_normal((1, 64, 64))).astype(np.float16)
tuned['llm/layers/lora/q_a'] = (0.01 * rng.standard_normal((3, 96, 8))).astype(np.float32)

base_path = os.path.join(out_dir, 'base.npz')
tuned_path = os.path.join(out_dir, 'tuned.npz')
np.savez(base_path, **base)
np.savez(tuned_path, **tuned)

data = open(base_path, 'rb').read()
# Cut inside the central directory: the archive cannot even be listed.
with open(os.path.join(out_dir, 'truncated.npz'), 'wb') as f:
    f.write(data[: len(data) - 60])
# One flipped data byte in the middle of a tensor: the listing works, reading that tensor fails its CRC-32.
flipped_name = 'llm/layers/mlp/linear'
raw = base[flipped_name].tobytes()
at = data.find(raw) + len(raw) // 2
damaged = bytearray(data)
damaged[at] ^= 0x40
with open(os.path.join(out_dir, 'flipped.npz'), 'wb') as f:
    f.write(bytes(damaged))


def as_float64(array):
    """np.load gives bf16 back as '<V2'; view it as ml_dtypes' bfloat16 before widening."""
    return (array.view(BFLOAT16) if array.dtype.kind == 'V' else array).astype(np.float64)


def histogram(name):
    values = as_float64(np.load(base_path)[name]).ravel()
    lo, hi = float(values.min()), float(values.max())
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi))
    return {'min': lo, 'max': hi, 'counts': counts.tolist()}


changed, equal = [], []
with np.load(base_path) as za, np.load(tuned_path) as zb:
    for name in za.files:
        if name not in zb.files or za[name].shape != zb[name].shape:
            continue
        a = as_float64(za[name])
        b = as_float64(zb[name])
        if np.array_equal(a, b):
            equal.append(name)
        else:
            changed.append([name, float(np.linalg.norm(a - b) / np.linalg.norm(a))])
changed.sort(key=lambda pair: -pair[1])

print(json.dumps({
    'names': list(base.keys()),
    'histograms': {name: histogram(name) for name in ('llm/layers/attn/q_einsum/w', 'llm/layers/mlp/gating_einsum', 'llm/embedder/input_embedding')},
    'changed': changed,
    'equal': equal,
    'onlyB': ['llm/layers/lora/q_a'],
    'shapeChanged': ['img/pos_embedding'],
    'flipped': flipped_name,
}))
