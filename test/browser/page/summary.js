// What a reader made of a file, as comparable strings: run in Node (with npz-stream's Node entry) and in the page
// (with npz-stream/browser), so the two can be compared with one `toEqual`. Plain JavaScript with no imports: the
// page loads it as it is.

const hex = (buffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, '0')).join('');

/** SHA-256 of the parts joined, as hex (crypto.subtle: Node's and the browser's). */
export async function sha256(parts) {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.byteLength;
  }
  return hex(await crypto.subtle.digest('SHA-256', joined));
}

const bytesOf = (array) => new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);

/** An array's description without its data; the typed array's class as its name. */
function describe(name, array) {
  return { name, dtype: array.dtype, descr: array.descr, shape: array.shape, fortranOrder: array.fortranOrder, type: array.data.constructor.name };
}

/** Entries, then every array through get() and through chunks(). */
export async function summarizeFile(file, chunkSize = 4096) {
  const got = [];
  const chunked = [];
  const arrays = [];
  for (const entry of file.entries) {
    if (!entry.isArray) continue;
    const array = await file.get(entry.name);
    arrays.push(describe(entry.name, array));
    got.push(bytesOf(array).slice());
    for await (const chunk of file.chunks(entry.name, { chunkSize })) {
      if (chunk.byteLength > chunkSize) throw new Error(`a chunk of ${chunk.byteLength} bytes, more than ${chunkSize}`);
      chunked.push(chunk.slice());
    }
  }
  return { entries: JSON.stringify(file.entries), arrays: JSON.stringify(arrays), get: await sha256(got), chunks: await sha256(chunked) };
}

/**
 * Slices, shards and sliced chunks of every array (numpy's rules: a row range, a negative index that drops the
 * axis, a step, the last axis narrowed): their descriptions, bytes, and the codes of the ones that must fail
 * (any slice of a 0-d array, a shard of an axis that does not divide).
 */
export async function summarizeSlices(file) {
  const results = [];
  const data = [];
  for (const entry of file.entries) {
    if (!entry.isArray) continue;
    const ndim = entry.shape.length;
    const slices = [[[1, null]], [-1], [[null, null, 2]], ndim > 1 ? [null, [1, -1]] : [[-3, null]]];
    for (const slice of slices) {
      const label = `${entry.name} ${JSON.stringify(slice)}`;
      const code = await codeOf(async () => {
        const array = await file.get(entry.name, { slice });
        results.push({ ...describe(label, array) });
        data.push(bytesOf(array).slice());
        for await (const chunk of file.chunks(entry.name, { slice, chunkSize: 64 })) data.push(chunk.slice());
      });
      if (code !== 'resolved') results.push({ name: label, code });
    }
    const code = await codeOf(async () => {
      const array = await file.shard(entry.name, { axis: 0, index: 1, count: 2 });
      results.push(describe(`${entry.name} shard 1/2`, array));
      data.push(bytesOf(array).slice());
    });
    if (code !== 'resolved') results.push({ name: `${entry.name} shard 1/2`, code });
  }
  return { slices: JSON.stringify(results), data: await sha256(data) };
}

/** `[name, array]` pairs (readNpz, readSafetensors). */
export async function summarizePairs(pairs) {
  const arrays = [];
  const data = [];
  for await (const [name, array] of pairs) {
    arrays.push(describe(name, array));
    data.push(bytesOf(array).slice());
  }
  return { arrays: JSON.stringify(arrays), data: await sha256(data) };
}

/** streamNpz entries, every array read through chunks(). */
export async function summarizeStream(entries) {
  const seen = [];
  const data = [];
  for await (const entry of entries) {
    if (!entry.isArray) {
      seen.push({ name: entry.name, isArray: false });
      continue;
    }
    seen.push({ name: entry.name, dtype: entry.dtype, descr: entry.descr, shape: entry.shape, fortranOrder: entry.fortranOrder });
    for await (const chunk of entry.chunks()) data.push(chunk.slice());
  }
  return { entries: JSON.stringify(seen), data: await sha256(data) };
}

/** The code a piece of work rejected with, 'resolved', or what went wrong instead. */
export async function codeOf(work) {
  try {
    await work();
    return 'resolved';
  } catch (error) {
    return typeof error?.code === 'string' && error.name === 'NpzError' ? error.code : `non-NpzError ${error?.stack ?? String(error)}`;
  }
}

/** Opens, then reads every array through get() and chunks(): the first code, or 'resolved'. */
export async function openAndReadAll(open, input) {
  return codeOf(async () => {
    const file = await open(input);
    try {
      for (const entry of file.entries) {
        // A damaged member (listed, not fatal, by default) throws its error when read.
        if (!entry.isArray && entry.damaged !== true) continue;
        await file.get(entry.name);
        for await (const _ of file.chunks(entry.name, { chunkSize: 64 }));
      }
    } finally {
      await file.close();
    }
  });
}

/** Drains an async iterable of entries or pairs (reading every stream entry's data): the code, or 'resolved'. */
export async function drainCode(iterable) {
  return codeOf(async () => {
    for await (const item of iterable) if (item && typeof item.chunks === 'function' && item.isArray) for await (const _ of item.chunks());
  });
}
