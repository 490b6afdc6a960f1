/**
 * Moved to src/io/abort.ts. This re-export keeps the modules of other helpers of issue 21 (src/zip/, src/source/)
 * compiling until their branches are merged; the lead points them at ../io/abort.js and deletes this file.
 */
export * from '../io/abort.js';
