import { NpzError } from '../index.js';

/**
 * `--max-shard-size` as `transformers` reads `max_shard_size`: a byte count, or an integer with GiB/MiB/KiB
 * (powers of 2) or GB/MB/KB (powers of 10), case-insensitive; a lowercase final 'b' ('5Gb') means bits, as there.
 */
export function parseShardSize(text: string): number {
  const spec = text.trim();
  const binary = /^(\d+)\s*([GMK])iB$/i.exec(spec);
  const decimal = /^(\d+)\s*([GMK])(B)$/i.exec(spec);
  let bytes: number;
  if (/^\d+$/.test(spec)) bytes = Number(spec);
  else if (binary) bytes = Number(binary[1]) * 2 ** ({ G: 30, M: 20, K: 10 }[binary[2]!.toUpperCase() as 'G' | 'M' | 'K']);
  else if (decimal) {
    bytes = Number(decimal[1]) * 10 ** ({ G: 9, M: 6, K: 3 }[decimal[2]!.toUpperCase() as 'G' | 'M' | 'K']);
    if (spec.endsWith('b')) bytes = Math.floor(bytes / 8);
  } else {
    throw new NpzError('ERR_INVALID_ARGUMENT', `a shard size is a byte count or a number with GB, MB, KB, GiB, MiB or KiB; got ${JSON.stringify(text)}`, {
      actual: text,
    });
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `a shard size must be a positive number of bytes; got ${JSON.stringify(text)}`, { actual: text });
  }
  return bytes;
}
