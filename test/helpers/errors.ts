import { expect } from 'vitest';
import { NPZ_ERROR_CODES, isNpzError, type NpzError, type NpzErrorCode } from '../../src/errors.js';

/**
 * How tests look at failures. Work is given as a promise or as a function (sync or async); a function that
 * throws synchronously counts as a rejection. Any error that is not an NpzError is never taken for a code: it
 * shows up in full (with its stack) where the test compares, so a crash reads as a crash.
 */
export type Work = Promise<unknown> | (() => unknown);

const RESOLVED = Symbol('resolved');

async function settle(work: Work): Promise<unknown> {
  try {
    await (typeof work === 'function' ? work() : work);
    return RESOLVED;
  } catch (error) {
    return error;
  }
}

function describeOther(error: unknown): string {
  return `non-NpzError: ${(error as Error | undefined)?.stack ?? String(error)}`;
}

/** What `work` ends with, as one comparable string: the NpzError code, 'resolved', or `non-NpzError: <stack>`. */
export async function codeOf(work: Work): Promise<string> {
  const outcome = await settle(work);
  if (outcome === RESOLVED) return 'resolved';
  return isNpzError(outcome) ? outcome.code : describeOther(outcome);
}

/** Like `codeOf`, with the message: 'resolved', `CODE: message`, or `non-NpzError: <stack>`. */
export async function failureOf(work: Work): Promise<string> {
  const outcome = await settle(work);
  if (outcome === RESOLVED) return 'resolved';
  return isNpzError(outcome) ? `${outcome.code}: ${outcome.message}` : describeOther(outcome);
}

/** What `work` threw or rejected with; fails the test when it resolves. */
export async function rejectionOf(work: Work): Promise<unknown> {
  const outcome = await settle(work);
  if (outcome === RESOLVED) throw new Error('expected a rejection, but the work resolved');
  return outcome;
}

/**
 * Asserts that `work` fails with an NpzError carrying one of `codes`, and returns it. A failure with another
 * code, or with anything but an NpzError, is rethrown as it is, so the test report shows what really happened.
 */
export async function expectCode(work: Work, ...codes: NpzErrorCode[]): Promise<NpzError> {
  const outcome = await settle(work);
  expect(outcome === RESOLVED ? 'resolved' : 'rejected', `expected one of ${codes.join(', ')}`).toBe('rejected');
  if (!isNpzError(outcome, ...codes)) throw outcome;
  return outcome;
}

/** `expectCode` for a synchronous API: the NpzError must be thrown by the call itself, not by a returned promise. */
export function expectCodeSync(work: () => unknown, ...codes: NpzErrorCode[]): NpzError {
  let thrown: unknown = RESOLVED;
  try {
    work();
  } catch (error) {
    thrown = error;
  }
  expect(thrown === RESOLVED ? 'returned' : 'threw', `expected one of ${codes.join(', ')}, thrown synchronously`).toBe('threw');
  if (!isNpzError(thrown, ...codes)) throw thrown;
  return thrown;
}

/** The code a failure fixture's file name starts with (`<CODE>--what.ext`); a name with no real code is an error. */
export function codeInName(name: string): NpzErrorCode {
  const code = name.split('--')[0] as NpzErrorCode;
  if (!NPZ_ERROR_CODES.includes(code)) throw new Error(`${name}: '${code}' is not an NpzError code`);
  return code;
}
