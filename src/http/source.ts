import { ReadPlanner } from '../io/planner/index.js';
import type { RandomAccessSource } from '../io/random-access.js';
import type { HttpSettings } from './options.js';
import { HttpRangeSource, type HttpSourceStats } from './range-source.js';
import type { RangeTransport } from './transport.js';

/**
 * An HTTP(S) object as the readers see it: the range source (one ranged GET per read, over any transport) under the
 * read planner, which merges, splits and bounds its reads and keeps the tail the first request fetched. The first
 * request is a suffix range that holds the end records and, for checkpoints of a few thousand members, the whole
 * central directory, so `openNpz` finds the directory in one round trip.
 */

export type { HttpSourceStats } from './range-source.js';

export interface HttpSource extends RandomAccessSource {
  /** The URL as safe to print: no user info, no query string (pre-signed URLs carry their signature there). */
  readonly displayUrl: string;
  /** The strong ETag the object is pinned to, if the server sent one. */
  readonly etag: string | undefined;
  readonly stats: Readonly<HttpSourceStats>;
}

class PlannedHttpSource extends ReadPlanner implements HttpSource {
  readonly #range: HttpRangeSource;

  constructor(range: HttpRangeSource, tail: Uint8Array) {
    super(range, { tail, allocate: (length) => range.allocate(length), guard: () => range.checkUsable() });
    this.#range = range;
  }

  get displayUrl(): string {
    return this.#range.displayUrl;
  }

  get etag(): string | undefined {
    return this.#range.etag;
  }

  get stats(): Readonly<HttpSourceStats> {
    return this.#range.stats;
  }
}

/**
 * Opens `url` (already parsed and checked) over `transport`: one ranged request learns the size, pins the object
 * and caches its tail. The source owns the transport and closes it with itself, also when opening fails. `label`
 * names the object in messages instead of the URL (an object store URL: `s3://bucket/key`).
 */
export async function openHttpSource(transport: RangeTransport, url: URL, settings: HttpSettings, label?: string): Promise<HttpSource> {
  const range = new HttpRangeSource(transport, url, settings, label);
  try {
    const tail = await range.open(settings.tailSize);
    return new PlannedHttpSource(range, tail);
  } catch (error) {
    await range.close();
    throw error;
  }
}
