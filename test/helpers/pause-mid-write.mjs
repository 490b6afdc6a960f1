// Test-only preload for the CLI (node --import): the second FileHandle.writev of the process (the output's temp
// file already holds its first batch) waits for SIGINT, after saying so on stderr. A test can then interrupt a
// write at a known point instead of racing the process, and the write goes on only once the signal is in.
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const probe = await open(fileURLToPath(import.meta.url), 'r');
const proto = Object.getPrototypeOf(probe);
await probe.close();
const writev = proto.writev;
let calls = 0;
proto.writev = async function (...args) {
  if (++calls === 2) {
    // A signal listener alone does not keep the event loop alive; the interval does, until the signal comes.
    const keepAlive = setInterval(() => undefined, 60_000);
    const interrupted = new Promise((resolve) => process.once('SIGINT', resolve));
    process.stderr.write('test-hook: paused mid-write\n');
    await interrupted;
    clearInterval(keepAlive);
  }
  return writev.apply(this, args);
};
