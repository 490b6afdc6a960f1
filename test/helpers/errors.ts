import { isNpzError } from '../../src/errors.js';

/**
 * What `work` ends with, as one comparable string: the NpzError code, 'resolved', or the text of any other
 * error (which a hostile-input test must never see), so `expect(await codeOf(...)).toBe(code)` shows which.
 */
export async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work();
    return 'resolved';
  } catch (error) {
    return isNpzError(error) ? error.code : `non-NpzError: ${String(error)}`;
  }
}
