/**
 * A raw deflate (RFC 1951) decoder in plain TypeScript, for hosts whose native inflater cannot say where a deflate
 * stream ended (a browser's DecompressionStream refuses bytes after the end instead of reporting them). The
 * front-to-back zip reader needs exactly that: a deflated member with a data descriptor has no recorded size, so
 * what follows it is found where its deflate stream ends.
 *
 * It accepts and refuses what zlib's inflate accepts and refuses (the same checks on block types, stored lengths,
 * code length sets, distances), consumes input the way zlib does (whole bytes, the last one partly used), and
 * decodes as far as the input it was given allows before asking for more, so a reader over it reports the same
 * damage at the same point as one over zlib. Output is kept in a 32 KiB history window plus one output buffer;
 * each piece handed out is a fresh copy.
 */

import { CODE_LENGTH_ORDER, DIST_BASE, DIST_EXTRA, LENGTH_BASE, LENGTH_EXTRA, buildTable, fixed, type Table } from './huffman.js';

const WINDOW = 32 * 1024;
/** Zero bytes kept after the input so a symbol that runs past the end reads zeros, never out of bounds. */
const PAD = 16;
/** Input bytes left before the decoder works with overrun checks (one symbol needs at most 6). */
const CAREFUL = 8;
const MAX_MATCH = 258;

/** Damaged deflate data; the message is zlib's for the same damage. */
export class InflateDataError extends Error {
  override readonly name = 'InflateDataError';
}

/** The input ended inside the deflate stream. */
export class InflateTruncatedError extends Error {
  override readonly name = 'InflateTruncatedError';
  constructor() {
    super('unexpected end of file');
  }
}

/** What `inflate()` gives besides a piece of output. */
export const NEEDS_INPUT = 1;
export const ENDED = 0;

const enum Mode {
  Header,
  Stored,
  Huffman,
  Done,
}

/** Result of one decoding step. */
const enum Step {
  Progress,
  NeedsInput,
  Full,
}

/**
 * One raw deflate stream. Give it input with `push` (and `finish` once there is no more), and take output with
 * `inflate()`: a piece of at most `pieceSize` bytes, NEEDS_INPUT, or ENDED once the stream's final block is done
 * and every byte was handed out. Damaged data throws InflateDataError; input that ends inside the stream throws
 * InflateTruncatedError.
 */
export class RawInflater {
  // Input: bytes [0, inEnd) of `input`, zero padded; `pos` is the next byte, `bits`/`count` the bit buffer.
  #input = new Uint8Array(PAD);
  #inEnd = 0;
  #pos = 0;
  #bits = 0;
  #count = 0;
  /** Input bytes dropped from the front of earlier buffers. */
  #dropped = 0;
  #final = false;

  #mode = Mode.Header;
  #lastBlock = false;
  #storedLeft = 0;
  #lengths: Table | undefined;
  #distances: Table | undefined;

  // Output: history and pending bytes in `out[0, op)`; bytes before `emitted` were handed out.
  readonly #out: Uint8Array;
  readonly #pieceSize: number;
  readonly #limit: number;
  #op = 0;
  #emitted = 0;
  /** Output bytes shifted out of the front of `out`. */
  #shifted = 0;

  constructor(pieceSize: number) {
    if (!Number.isSafeInteger(pieceSize) || pieceSize < 1) throw new RangeError(`pieceSize must be a positive integer, got ${pieceSize}`);
    this.#pieceSize = pieceSize;
    const room = Math.max(pieceSize, 64 * 1024);
    this.#out = new Uint8Array(WINDOW + room + 2 * MAX_MATCH);
    this.#limit = this.#out.length - MAX_MATCH;
  }

  /** True once the final block has been decoded (output may still be waiting to be handed out). */
  get streamEnded(): boolean {
    return this.#mode === Mode.Done;
  }

  /** Output bytes produced so far. */
  get produced(): number {
    return this.#shifted + this.#op;
  }

  /** Input bytes the deflate stream occupied so far (all of it once the stream ended). */
  get consumed(): number {
    return this.#dropped + this.#pos - (this.#count >>> 3);
  }

  /** Input given but not part of the deflate stream (meaningful once the stream ended). */
  unused(): Uint8Array {
    return this.#input.subarray(this.#pos - (this.#count >>> 3), this.#inEnd);
  }

  /** Appends input. The bytes are copied; the caller may reuse `data`. */
  push(data: Uint8Array): void {
    if (this.#final) throw new Error('push after finish');
    if (data.length === 0) return;
    this.#normalize();
    const keep = this.#inEnd - this.#pos;
    const joined = new Uint8Array(keep + data.length + PAD);
    joined.set(this.#input.subarray(this.#pos, this.#inEnd));
    joined.set(data, keep);
    this.#dropped += this.#pos;
    this.#input = joined;
    this.#pos = 0;
    this.#inEnd = keep + data.length;
  }

  /** No more input will come: running out now is a truncated stream. */
  finish(): void {
    this.#final = true;
  }

  /** The next output piece, NEEDS_INPUT, or ENDED. */
  inflate(): Uint8Array | typeof NEEDS_INPUT | typeof ENDED {
    for (;;) {
      const pending = this.#op - this.#emitted;
      if (pending >= this.#pieceSize || (pending > 0 && this.#mode === Mode.Done)) {
        const size = Math.min(pending, this.#pieceSize);
        const piece = this.#out.slice(this.#emitted, this.#emitted + size);
        this.#emitted += size;
        return piece;
      }
      if (this.#mode === Mode.Done) return ENDED;
      this.#makeRoom();
      const step = this.#decode();
      if (step === Step.NeedsInput) {
        if (this.#final) throw new InflateTruncatedError();
        // Hand out what there is before asking for more: a consumer may not need the rest.
        if (this.#op > this.#emitted) {
          const size = Math.min(this.#op - this.#emitted, this.#pieceSize);
          const piece = this.#out.slice(this.#emitted, this.#emitted + size);
          this.#emitted += size;
          return piece;
        }
        return NEEDS_INPUT;
      }
    }
  }

  /** Keeps the last 32 KiB of history and any output not handed out yet at the front of `out`. */
  #makeRoom(): void {
    if (this.#op < this.#limit - this.#pieceSize && this.#op < this.#limit - MAX_MATCH * 4) return;
    const from = Math.max(0, Math.min(this.#emitted, this.#op - WINDOW));
    if (from === 0) return;
    this.#out.copyWithin(0, from, this.#op);
    this.#op -= from;
    this.#emitted -= from;
    this.#shifted += from;
  }

  /** Whole bytes in the bit buffer go back to the input, leaving the bits of one partly used byte. */
  #normalize(): void {
    const whole = this.#count >>> 3;
    this.#pos -= whole;
    this.#count &= 7;
    this.#bits &= (1 << this.#count) - 1;
  }

  /** True when the bits taken so far run past the input. */
  #overrun(pos: number, count: number): boolean {
    return pos * 8 - count > this.#inEnd * 8;
  }

  #decode(): Step {
    while (this.#op < this.#limit) {
      let step: Step;
      switch (this.#mode) {
        case Mode.Header:
          step = this.#header();
          break;
        case Mode.Stored:
          step = this.#stored();
          break;
        case Mode.Huffman:
          step = this.#huffman();
          break;
        case Mode.Done:
          return Step.Progress;
      }
      if (step === Step.NeedsInput) {
        this.#normalize();
        return step;
      }
      if (step === Step.Full || this.#op - this.#emitted >= this.#pieceSize) return Step.Progress;
    }
    return Step.Full;
  }

  /** Takes `n` bits (n <= 24) from the input, reading zeros past its end (callers check for overrun). */
  #take(n: number): number {
    while (this.#count < n) {
      this.#bits |= (this.#input[this.#pos++] as number) << this.#count;
      this.#count += 8;
    }
    const value = this.#bits & ((1 << n) - 1);
    this.#bits >>>= n;
    this.#count -= n;
    return value;
  }

  /** Decodes one symbol of `table` from the input (reading zeros past its end). */
  #symbol(table: Table): number {
    while (this.#count < table.bits) {
      this.#bits |= (this.#input[this.#pos++] as number) << this.#count;
      this.#count += 8;
    }
    const entry = table.entries[this.#bits & ((1 << table.bits) - 1)] as number;
    const length = entry & 15;
    this.#bits >>>= length;
    this.#count -= length;
    return entry >>> 4;
  }

  /** A data error, unless the bits that show it lie past the input: then the input simply ran out. */
  #damaged(message: string, saved: { pos: number; bits: number; count: number }): Step {
    if (this.#overrun(this.#pos, this.#count)) {
      this.#pos = saved.pos;
      this.#bits = saved.bits;
      this.#count = saved.count;
      return Step.NeedsInput;
    }
    throw new InflateDataError(message);
  }

  #header(): Step {
    if (this.#lastBlock) {
      // The final block is done: the rest of its last byte belongs to the stream, nothing after it does.
      this.#normalize();
      this.#bits = 0;
      this.#count = 0;
      this.#mode = Mode.Done;
      return Step.Progress;
    }
    const saved = { pos: this.#pos, bits: this.#bits, count: this.#count };
    const restore = (): Step => {
      this.#pos = saved.pos;
      this.#bits = saved.bits;
      this.#count = saved.count;
      return Step.NeedsInput;
    };
    const last = this.#take(1);
    const type = this.#take(2);
    if (this.#overrun(this.#pos, this.#count)) return restore();
    if (type === 0) {
      // Stored: skip to a byte boundary, then LEN and its complement.
      this.#take(this.#count & 7);
      this.#normalize();
      if (this.#inEnd - this.#pos < 4) return restore();
      const input = this.#input;
      const p = this.#pos;
      const length = (input[p] as number) | ((input[p + 1] as number) << 8);
      const check = (input[p + 2] as number) | ((input[p + 3] as number) << 8);
      this.#pos += 4;
      if (length !== (~check & 0xffff)) throw new InflateDataError('invalid stored block lengths');
      this.#storedLeft = length;
      this.#mode = Mode.Stored;
    } else if (type === 1) {
      const tables = fixed();
      this.#lengths = tables.lengths;
      this.#distances = tables.distances;
      this.#mode = Mode.Huffman;
    } else if (type === 2) {
      const step = this.#dynamicTables(saved);
      if (step !== Step.Progress) return step === Step.NeedsInput ? restore() : step;
      this.#mode = Mode.Huffman;
    } else {
      throw new InflateDataError('invalid block type');
    }
    this.#lastBlock = last === 1;
    return Step.Progress;
  }

  #dynamicTables(saved: { pos: number; bits: number; count: number }): Step {
    const lengthCount = this.#take(5) + 257;
    const distanceCount = this.#take(5) + 1;
    const codeCount = this.#take(4) + 4;
    if (lengthCount > 286 || distanceCount > 30) return this.#damaged('too many length or distance symbols', saved);
    const codeLengths = new Uint8Array(19);
    for (let i = 0; i < codeCount; i++) codeLengths[CODE_LENGTH_ORDER[i] as number] = this.#take(3);
    if (this.#overrun(this.#pos, this.#count)) return Step.NeedsInput;
    const codes = buildTable(codeLengths, 'codes');
    if (typeof codes === 'string') throw new InflateDataError(codes);
    const total = lengthCount + distanceCount;
    const lengths = new Uint8Array(total);
    let have = 0;
    while (have < total) {
      const symbol = this.#symbol(codes);
      if (symbol < 16) {
        lengths[have++] = symbol;
        continue;
      }
      let repeat: number;
      let value = 0;
      if (symbol === 16) {
        if (have === 0) return this.#damaged('invalid bit length repeat', saved);
        value = lengths[have - 1] as number;
        repeat = 3 + this.#take(2);
      } else if (symbol === 17) {
        repeat = 3 + this.#take(3);
      } else {
        repeat = 11 + this.#take(7);
      }
      if (have + repeat > total) return this.#damaged('invalid bit length repeat', saved);
      lengths.fill(value, have, have + repeat);
      have += repeat;
      if (this.#overrun(this.#pos, this.#count)) return Step.NeedsInput;
    }
    if (this.#overrun(this.#pos, this.#count)) return Step.NeedsInput;
    if (lengths[256] === 0) throw new InflateDataError('invalid code -- missing end-of-block');
    const literal = buildTable(lengths.subarray(0, lengthCount), 'lengths');
    if (typeof literal === 'string') throw new InflateDataError(literal);
    const distance = buildTable(lengths.subarray(lengthCount), 'distances');
    if (typeof distance === 'string') throw new InflateDataError(distance);
    this.#lengths = literal;
    this.#distances = distance;
    return Step.Progress;
  }

  #stored(): Step {
    const available = this.#inEnd - this.#pos;
    const take = Math.min(this.#storedLeft, available, this.#out.length - this.#op);
    this.#out.set(this.#input.subarray(this.#pos, this.#pos + take), this.#op);
    this.#pos += take;
    this.#op += take;
    this.#storedLeft -= take;
    if (this.#storedLeft === 0) {
      this.#mode = Mode.Header;
      return Step.Progress;
    }
    return take === available ? Step.NeedsInput : Step.Full;
  }

  /** Literal/length and distance symbols until the block ends, the output is full, or the input runs low. */
  #huffman(): Step {
    const input = this.#input;
    const out = this.#out;
    const lit = (this.#lengths as Table).entries;
    const litBits = (this.#lengths as Table).bits;
    const litMask = (1 << litBits) - 1;
    const dist = (this.#distances as Table).entries;
    const distBits = (this.#distances as Table).bits;
    const distMask = (1 << distBits) - 1;
    const inEnd = this.#inEnd;
    const safeEnd = inEnd - CAREFUL;
    const endBits = inEnd * 8;
    const limit = this.#limit;
    const goal = this.#emitted + this.#pieceSize;
    const shifted = this.#shifted;
    let pos = this.#pos;
    let bits = this.#bits;
    let count = this.#count;
    let op = this.#op;
    let step = Step.Full;
    let error: string | undefined;
    let savedPos = pos;
    let savedBits = bits;
    let savedCount = count;
    for (;;) {
      if (op >= limit || op >= goal) break;
      const careful = pos > safeEnd;
      if (careful) {
        savedPos = pos;
        savedBits = bits;
        savedCount = count;
      }
      if (count < 15) {
        bits |= ((input[pos] as number) << count) | ((input[pos + 1] as number) << (count + 8));
        pos += 2;
        count += 16;
      }
      let entry = lit[bits & litMask] as number;
      let length = entry & 15;
      bits >>>= length;
      count -= length;
      let symbol = entry >>> 4;
      if (symbol < 256) {
        if (careful && pos * 8 - count > endBits) {
          step = Step.NeedsInput;
          break;
        }
        out[op++] = symbol;
        continue;
      }
      if (symbol === 256) {
        if (careful && pos * 8 - count > endBits) {
          step = Step.NeedsInput;
          break;
        }
        this.#mode = Mode.Header;
        step = Step.Progress;
        break;
      }
      symbol -= 257;
      if (symbol >= 29) {
        if (!careful) savedPos = -1;
        error = 'invalid literal/length code';
        break;
      }
      let matchLength = LENGTH_BASE[symbol] as number;
      let extra = LENGTH_EXTRA[symbol] as number;
      if (count < extra + distBits) {
        while (count <= 24) {
          bits |= (input[pos++] as number) << count;
          count += 8;
        }
      }
      if (extra > 0) {
        matchLength += bits & ((1 << extra) - 1);
        bits >>>= extra;
        count -= extra;
      }
      entry = dist[bits & distMask] as number;
      length = entry & 15;
      bits >>>= length;
      count -= length;
      symbol = entry >>> 4;
      if (symbol >= 30) {
        if (!careful) savedPos = -1;
        error = 'invalid distance code';
        break;
      }
      let distance = DIST_BASE[symbol] as number;
      extra = DIST_EXTRA[symbol] as number;
      if (extra > 0) {
        if (count < extra) {
          while (count <= 24) {
            bits |= (input[pos++] as number) << count;
            count += 8;
          }
        }
        distance += bits & ((1 << extra) - 1);
        bits >>>= extra;
        count -= extra;
      }
      if (careful && pos * 8 - count > endBits) {
        step = Step.NeedsInput;
        break;
      }
      if (distance > shifted + op) {
        if (!careful) savedPos = -1;
        error = 'invalid distance too far back';
        break;
      }
      let from = op - distance;
      if (distance >= matchLength && matchLength > 32) {
        out.copyWithin(op, from, from + matchLength);
        op += matchLength;
      } else {
        const end = op + matchLength;
        while (op < end) out[op++] = out[from++] as number;
      }
    }
    if (step === Step.NeedsInput) {
      // The symbol in hand runs past the input: undo it and wait for more.
      pos = savedPos;
      bits = savedBits;
      count = savedCount;
    }
    this.#pos = pos;
    this.#bits = bits;
    this.#count = count;
    this.#op = op;
    if (error !== undefined) {
      if (savedPos >= 0 && pos * 8 - count > endBits) {
        // The bits that look wrong are the zeros past the input: it ran out, nothing is known to be damaged yet.
        this.#pos = savedPos;
        this.#bits = savedBits;
        this.#count = savedCount;
        return Step.NeedsInput;
      }
      throw new InflateDataError(error);
    }
    return step;
  }
}
