// The same trees for the page and for Node: `makeTree(lib)` builds it from either entry's exports.

/** A tree with in-memory leaves of several dtypes, a big-endian one, a 0-d one and a lazy leaf of 3 MiB. */
export function makeTree() {
  const lazyBytes = 3 * 1024 * 1024;
  const lazy = {
    dtype: 'float32',
    shape: [lazyBytes / 4],
    *chunks() {
      // 64 KiB pieces, each a fresh buffer (the writer may keep them).
      for (let at = 0; at < lazyBytes; at += 65536) {
        const piece = new Uint8Array(65536);
        for (let i = 0; i < piece.length; i++) piece[i] = (at + i * 7) & 0xff;
        yield piece;
      }
    },
  };
  const big = new Uint8Array(8 * 3);
  for (let i = 0; i < big.length; i++) big[i] = i;
  return {
    img: {
      kernel: { dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) },
      bias: { dtype: 'bfloat16', shape: [5], data: Uint16Array.of(0x3f80, 0x4000, 0xbf80, 0x7f80, 0) },
      steps: { dtype: 'int64', shape: [], data: BigInt64Array.of(123456789012345n) },
      halves: { dtype: 'float16', shape: [2, 2], data: Uint16Array.of(0x3c00, 0x4000, 0xc000, 0x3800) },
    },
    lazy,
    bytes: { dtype: 'uint8', shape: [24], data: big },
  };
}

/** Collects what a writer puts into a WritableStream. */
export function collector() {
  const parts = [];
  const stream = new WritableStream({
    write(chunk) {
      // Kept as a copy: the writer may reuse its memory once the write resolved.
      parts.push(new Uint8Array(chunk));
    },
  });
  const bytes = () => {
    let total = 0;
    for (const part of parts) total += part.length;
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  return { stream, bytes };
}

export const toBase64 = (bytes) => {
  let text = '';
  for (let at = 0; at < bytes.length; at += 8192) text += String.fromCharCode(...bytes.subarray(at, at + 8192));
  return btoa(text);
};
