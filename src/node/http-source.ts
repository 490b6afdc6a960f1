import type { Dispatcher } from 'undici';
import { openHttpSource, type HttpSource } from '../http/source.js';
import { httpSettings, type HttpReadOptions } from '../http/options.js';
import { parseHttpUrl } from '../http/url.js';
import { UndiciTransport } from './http-transport.js';

export type { HttpSource, HttpSourceStats } from '../http/source.js';

export interface HttpSourceOptions extends HttpReadOptions {
  /**
   * The undici dispatcher requests go through instead of a pool of the source's own, e.g. undici's
   * `ProxyAgent` or `EnvHttpProxyAgent` behind a proxy. Redirects are still followed on top of it; it is not
   * closed with the source (it is yours), and `concurrency` still bounds the requests in flight.
   */
  dispatcher?: Dispatcher;
}

/**
 * Opens an `http:` or `https:` URL as a RandomAccessSource: one ranged request learns the size, pins the object
 * and caches its tail. Close it when done (the readers do when they opened it from a URL).
 */
export async function httpSource(url: string | URL, options: HttpSourceOptions = {}): Promise<HttpSource> {
  const parsed = parseHttpUrl(url);
  const settings = httpSettings(options);
  const transport = new UndiciTransport({ connections: settings.concurrency, dispatcher: options.dispatcher });
  return openHttpSource(transport, parsed, settings);
}
