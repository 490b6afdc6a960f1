/**
 * The one error class of npz-stream. Every failure the library detects is an `NpzError` whose `code` is a
 * stable string, so callers can branch on it without parsing messages. Codes are prefixed by the layer that
 * raised them: `ERR_NPY_*` (array header and data), `ERR_ZIP_*` (container), `ERR_NPZ_*` (archive semantics),
 * `ERR_TREE_*` (naming), `ERR_SAFETENSORS_*` (safetensors files), `ERR_IO_*` / `ERR_REMOTE_*` / `ERR_ABORTED`
 * (the outside world).
 */

export const NPZ_ERROR_CODES = [
  // npy header and data
  'ERR_NPY_MAGIC',
  'ERR_NPY_VERSION',
  'ERR_NPY_TRUNCATED',
  'ERR_NPY_HEADER_TOO_LARGE',
  'ERR_NPY_HEADER_SYNTAX',
  'ERR_NPY_HEADER_KEYS',
  'ERR_NPY_HEADER_VALUE',
  'ERR_NPY_SHAPE',
  'ERR_NPY_TOO_LARGE',
  'ERR_NPY_DTYPE',
  'ERR_NPY_PICKLE',
  'ERR_NPY_SIZE_MISMATCH',
  // zip container
  'ERR_ZIP_NOT_ZIP',
  'ERR_ZIP_EOCD',
  'ERR_ZIP_ZIP64',
  'ERR_ZIP_MULTIDISK',
  'ERR_ZIP_CENTRAL_DIRECTORY',
  'ERR_ZIP_LOCAL_HEADER',
  'ERR_ZIP_NAME_MISMATCH',
  'ERR_ZIP_BOUNDS',
  'ERR_ZIP_OVERLAP',
  'ERR_ZIP_TRUNCATED',
  'ERR_ZIP_CRC_MISMATCH',
  'ERR_ZIP_SIZE_MISMATCH',
  'ERR_ZIP_UNSUPPORTED_METHOD',
  'ERR_ZIP_ENCRYPTED',
  'ERR_ZIP_INFLATE',
  'ERR_ZIP_BOMB',
  'ERR_ZIP_TOO_LARGE',
  'ERR_ZIP_STREAM_UNDELIMITED',
  // npz archive semantics
  'ERR_NPZ_DUPLICATE_NAME',
  'ERR_NPZ_NOT_FOUND',
  'ERR_NPZ_NOT_ARRAY',
  'ERR_NPZ_CLOSED',
  // tree naming
  'ERR_TREE_KEY',
  'ERR_TREE_LEAF',
  'ERR_TREE_DUPLICATE_NAME',
  // safetensors files and shard indexes
  'ERR_SAFETENSORS_HEADER_LENGTH',
  'ERR_SAFETENSORS_HEADER',
  'ERR_SAFETENSORS_DTYPE',
  'ERR_SAFETENSORS_OFFSETS',
  'ERR_SAFETENSORS_SIZE_MISMATCH',
  'ERR_SAFETENSORS_BUFFER_LENGTH',
  'ERR_SAFETENSORS_DUPLICATE_NAME',
  'ERR_SAFETENSORS_UNSUPPORTED',
  'ERR_SAFETENSORS_INDEX',
  // writer input
  'ERR_SOURCE',
  'ERR_SOURCE_LENGTH',
  // outside world
  'ERR_IO',
  'ERR_REMOTE_RANGE',
  'ERR_REMOTE_CHANGED',
  'ERR_REMOTE_STATUS',
  'ERR_REMOTE_NETWORK',
  'ERR_REMOTE_CREDENTIALS',
  'ERR_ABORTED',
  'ERR_INVALID_ARGUMENT',
] as const;

export type NpzErrorCode = (typeof NPZ_ERROR_CODES)[number];

/** Context a user needs to act on an error. Every field is optional; only the relevant ones are set. */
export interface NpzErrorContext {
  /** Archive member or tree leaf name. */
  entry?: string;
  /** Byte offset in the file (or in the npy stream for header errors). */
  offset?: number;
  expected?: unknown;
  actual?: unknown;
  cause?: unknown;
}

export class NpzError extends Error {
  override readonly name = 'NpzError';
  readonly code: NpzErrorCode;
  readonly entry: string | undefined;
  readonly offset: number | undefined;
  readonly expected: unknown;
  readonly actual: unknown;

  constructor(code: NpzErrorCode, message: string, context: NpzErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.entry = context.entry;
    this.offset = context.offset;
    this.expected = context.expected;
    this.actual = context.actual;
  }
}

/** True when `err` is an NpzError, optionally with one of the given codes. */
export function isNpzError(err: unknown, ...codes: NpzErrorCode[]): err is NpzError {
  return err instanceof NpzError && (codes.length === 0 || codes.includes(err.code));
}
