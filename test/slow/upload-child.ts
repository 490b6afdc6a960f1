/**
 * A separate process for the large-upload test (run with `node --import tsx`): saves one lazy float32 ramp of
 * `argv[3]` elements to the `s3://` URL `argv[2]` (credentials, region and endpoint from the AWS environment
 * variables), then prints a JSON line with the bytes written and this process's peak RSS (VmHWM, its own).
 */
import { readFileSync } from 'node:fs';
import { saveNpz } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';

const [url, count] = [process.argv[2]!, Number(process.argv[3])];
const CHUNK = 1 << 20;

const big: LazyArray = {
  dtype: 'float32',
  shape: [count],
  async *chunks() {
    for (let start = 0; start < count; start += CHUNK) {
      const n = Math.min(CHUNK, count - start);
      const piece = new Float32Array(n);
      for (let i = 0; i < n; i++) piece[i] = start + i;
      yield new Uint8Array(piece.buffer);
    }
  },
};

const summary = await saveNpz(url, { small: new Float32Array([1.5, 2.5]), big });
const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ bytesWritten: summary.bytesWritten, peakRssBytes: hwm === null ? null : Number(hwm[1]) * 1024 }));
