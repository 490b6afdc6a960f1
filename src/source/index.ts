/**
 * Where archive bytes come from. Every reader goes through a `RandomAccessSource`; this folder holds the ones
 * the library opens itself and the resolver that turns a caller's input into one.
 */
export { bufferSource } from './buffer.js';
export { fileSource } from './file.js';
export { isRandomAccessSource, type NpzSource, type RandomAccessSource, type ReadCost } from './random-access.js';
export { resolveSource, type ResolvedSource } from './resolve.js';
