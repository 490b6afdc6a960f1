/**
 * `npm run build && node --import tsx bench/view-load.ts [--dir DIR] [--previews 20] [--tensors 100000]`
 *
 * `npz-stream view` under load, against the built CLI in a child process (as a user runs it):
 *  1. Previews: one npz with a 256 MiB float32 tensor (and a safetensors copy); PREVIEWS concurrent requests for
 *     its first and last values, twice over; the server's VmRSS before, peak VmHWM, and VmRSS after going idle,
 *     and the wall time of each round.
 *  2. The overview of a file with TENSORS tensors at one level of the tree: the time to the first overview, and
 *     the slowest of the /api/files requests sent every 50 ms meanwhile (how long other requests wait).
 * Fixtures are written once into DIR (default a directory under the system's temp dir) and kept for reruns.
 * One run; on a shared machine the times are indicative only.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(tmpdir(), 'npz-stream-view-load') },
    previews: { type: 'string', default: '20' },
    tensors: { type: 'string', default: '100000' },
  },
});
const DIR = values.dir;
const PREVIEWS = Number(values.previews);
const TENSORS = Number(values.tensors);
const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

async function library(): Promise<typeof import('../dist/index.js')> {
  return (await import('../dist/index.js')) as typeof import('../dist/index.js');
}

async function fixtures(): Promise<{ big: string; bigSafetensors: string; many: string }> {
  mkdirSync(DIR, { recursive: true });
  const big = join(DIR, 'big.npz');
  const bigSafetensors = join(DIR, 'big.safetensors');
  const many = join(DIR, `many-${TENSORS}.npz`);
  const { saveNpz, saveSafetensors } = await library();
  if (!existsSync(big) || !existsSync(bigSafetensors)) {
    const data = new Float32Array(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = i;
    const tree = { big: { dtype: 'float32' as const, shape: [8192, 8192], data }, small: { dtype: 'float32' as const, shape: [4], data: new Float32Array(4) } };
    await saveNpz(big, tree);
    await saveSafetensors(bigSafetensors, tree);
  }
  if (!existsSync(many)) {
    const one = new Float32Array([1]);
    const tree: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
    for (let i = 0; i < TENSORS; i++) tree[`t${String(i).padStart(6, '0')}`] = { dtype: 'float32', shape: [1], data: one };
    await saveNpz(many, tree);
  }
  return { big, bigSafetensors, many };
}

interface View {
  url: URL;
  pid: number;
  stop(): Promise<void>;
}

async function startView(file: string): Promise<View> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [BIN, 'view', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`view exited ${code}: ${stderr}`)));
  });
  // The CLI may run in a relaunched child (glibc huge pages): measure the process that serves.
  const served = new URL(line);
  const pid = serverPid(child.pid!);
  return {
    url: served,
    pid,
    stop: async () => {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
      if (stderr.includes('MaxListenersExceededWarning')) console.log('  stderr had a MaxListenersExceededWarning');
    },
  };
}

/** The relaunched child when there is one (its only child running node), else the process itself. */
function serverPid(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length === 1 ? Number(children[0]) : pid;
  } catch {
    return pid;
  }
}

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

function api(view: View, path: string, params: Record<string, string> = {}): string {
  const url = new URL(`/api/${path}`, view.url);
  url.searchParams.set('token', view.url.searchParams.get('token')!);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

/** A GET on a connection of its own (no keep-alive race with a server busy elsewhere); resolves with the body. */
function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (text: string) => (body += text));
      response.on('end', () => resolve(body));
      response.on('error', reject);
    }).on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function previews(file: string, name: string): Promise<void> {
  const view = await startView(file);
  // The relaunched child may still be starting when the URL is printed by it; give the pid a moment.
  await sleep(300);
  const pid = serverPid(view.pid);
  try {
    const before = memory(pid);
    const rounds: number[] = [];
    for (let round = 0; round < 2; round++) {
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: PREVIEWS }, () => fetchText(api(view, 'preview', { file: '0', name })).then((text) => JSON.parse(text) as { text?: string })));
      rounds.push(performance.now() - started);
      if (!answers.every((answer) => typeof answer.text === 'string' && answer.text.includes('...'))) throw new Error(`a preview failed: ${JSON.stringify(answers[0])}`);
    }
    await sleep(2000);
    const after = memory(pid);
    console.log(
      `  ${file.split('/').at(-1)}: ${PREVIEWS} concurrent previews of a 256 MiB tensor: RSS ${before.rss.toFixed(0)} MB before, peak ${after.hwm.toFixed(0)} MB, ${after.rss.toFixed(0)} MB idle after; rounds ${rounds.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}`,
    );
  } finally {
    await view.stop();
  }
}

async function overview(file: string): Promise<void> {
  const view = await startView(file);
  try {
    await fetchText(api(view, 'files'));
    let done = false;
    let slowest = 0;
    const probes = (async () => {
      while (!done) {
        const started = performance.now();
        await fetchText(api(view, 'files'));
        slowest = Math.max(slowest, performance.now() - started);
        await sleep(50);
      }
    })();
    const started = performance.now();
    // Not parsed here: parsing tens of megabytes would hold up this process's own probes.
    const text = await fetchText(api(view, 'overview', { file: '0' }));
    const arrays = Number(/"arrays":(\d+)/.exec(text)?.[1]);
    const first = performance.now() - started;
    done = true;
    await probes;
    const again = performance.now();
    await fetchText(api(view, 'overview', { file: '0' }));
    console.log(
      `  ${arrays} tensors at one level (${(text.length / 2 ** 20).toFixed(1)} MiB of JSON): first overview ${(first / 1000).toFixed(2)} s, again ${((performance.now() - again) / 1000).toFixed(2)} s; slowest /api/files meanwhile ${slowest.toFixed(0)} ms`,
    );
  } finally {
    await view.stop();
  }
}

const { big, bigSafetensors, many } = await fixtures();
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`view under load (load average ${load})`);
if (process.env['ONLY_OVERVIEW'] === undefined) await previews(big, 'big');
if (process.env['ONLY_OVERVIEW'] === undefined) await previews(bigSafetensors, 'big');
await overview(many);
