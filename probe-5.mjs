import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import diagnostics from 'node:diagnostics_channel';
import { readNpz, openNpz } from './dist/index.js';
const file = '/tmp/npz-remote-bench-0.03.npz';
const size = statSync(file).size;
const child = spawn(process.execPath, ['--import', 'tsx', 'bench/remote.ts', '--serve', file, '0', String(50e6)], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => child.stdout.once('data', (c) => r(Number(String(c).trim()))));
const url = `http://127.0.0.1:${port}/x`;
let inflight = 0;
diagnostics.channel('undici:request:create').subscribe(() => inflight++);
diagnostics.channel('undici:request:trailers').subscribe(() => inflight--);
diagnostics.channel('undici:request:error').subscribe(() => inflight--);
const rs = Number(process.argv[2] ?? 1) * 2 ** 20;
const conc = Number(process.argv[3] ?? 8);
const f = await openNpz(file); const names = f.entries.map((e) => [e.name, e.byteLength]); await f.close();
let samples = 0, sum = 0; const hist = new Array(20).fill(0);
const timer = setInterval(() => { samples++; sum += inflight; hist[Math.min(19, inflight)]++; }, 5);
const t0 = performance.now(); let last = t0;
for await (const [name, a] of readNpz(url, { http: { requestSize: rs, concurrency: conc } })) {
  const now = performance.now(); if (a.data.byteLength > 1e6) console.log(name.padEnd(50), (a.data.byteLength / 2 ** 20).toFixed(1), 'MiB', ((now - last) / 1000).toFixed(2), 's', (a.data.byteLength / 1e3 / (now - last)).toFixed(0), 'MB/s'); last = now;
}
clearInterval(timer);
console.log((size / 1e3 / (performance.now() - t0)).toFixed(0), 'MB/s', 'avg in flight', (sum / samples).toFixed(2), hist.join(' '));
child.kill();
