import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Crc32, crc32 } from '../../src/zip/write/crc32.js';
import { hasPython, runPython, withSkipReason, NO_PYTHON } from '../helpers/python.js';

describe('crc32', () => {
  it('gives the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('continues across chunks, including views over zero-byte buffers', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const running = new Crc32();
        for (const chunk of chunks) {
          running.update(chunk);
          // Node's zlib.crc32 returns 0 for these, whatever the running value; they must be no-ops.
          running.update(new Uint8Array(new ArrayBuffer(0)));
          running.update(chunk.subarray(0, 0));
        }
        const whole = Buffer.concat(chunks);
        expect(running.value).toBe(crc32(whole));
        expect(running.length).toBe(whole.byteLength);
      }),
    );
  });

  it.skipIf(!hasPython())(withSkipReason(!hasPython(), NO_PYTHON, 'agrees with python zlib.crc32'), () => {
    const data = new Uint8Array(100_003);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const expected = Number(runPython('import sys, zlib; print(zlib.crc32(sys.stdin.buffer.read()))', [], data).trim());
    expect(crc32(data)).toBe(expected);
    expect(crc32(data.subarray(50_000), crc32(data.subarray(0, 50_000)))).toBe(expected);
  });
});
