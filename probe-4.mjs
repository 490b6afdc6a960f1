import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { readNpz } from './dist/index.js';
const file = '/tmp/npz-remote-bench-0.03.npz';
const size = statSync(file).size;
const child = spawn(process.execPath, ['--import', 'tsx', 'bench/remote.ts', '--serve', file, '0', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => child.stdout.once('data', (c) => r(Number(String(c).trim()))));
const url = `http://127.0.0.1:${port}/x`;
const rs = Number(process.argv[2] ?? 1) * 2 ** 20;
for (let i = 0; i < 3; i++) { const t0 = performance.now(); for await (const [, a] of readNpz(url, { http: { requestSize: rs } })) ; console.log((size / 1e3 / (performance.now() - t0)).toFixed(0), 'MB/s'); }
child.kill();
