/** HTTP range reading over any transport: the rules (core) a host's HTTP client plugs into. */
export { openHttpSource, type HttpSource, type HttpSourceStats } from './source.js';
export { httpSettings, type HttpReadOptions, type HttpRetry, type HttpSettings } from './options.js';
export { isHttpUrl, parseHttpUrl, redactUrl } from './url.js';
export type { RangeTransport, RangeRequest, TransportResponse, TransportBody, TransportFailure, BodyEnd } from './transport.js';
