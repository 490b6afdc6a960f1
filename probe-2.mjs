import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { readNpz, httpSource } from './dist/index.js';
const file = '/tmp/npz-remote-bench-0.03.npz';
const size = statSync(file).size;
const child = spawn(process.execPath, ['--import', 'tsx', 'bench/remote.ts', '--serve', file, '0', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => child.stdout.once('data', (c) => r(Number(String(c).trim()))));
const url = `http://127.0.0.1:${port}/x`;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
async function t(name, fn) {
  const c0 = cpu(); const t0 = performance.now(); const info = await fn(); const ms = performance.now() - t0; const c = cpu() - c0;
  console.log(`${name}: ${(size / 1e3 / ms).toFixed(0)} MB/s, client cpu ${(100 * c / ms).toFixed(0)}% ${info ?? ''}`);
}
const rs = Number(process.argv[2] ?? 1) * 2 ** 20;
for (let i = 0; i < 2; i++) {
  for (const verifyCrc of [true, false]) {
    await t(`readNpz crc=${verifyCrc} rs=${rs >> 20}`, async () => { let n = 0; for await (const [, a] of readNpz(url, { http: { requestSize: rs }, verifyCrc })) n += a.data.byteLength; });
  }
  await t(`source.read whole into reused buffer rs=${rs >> 20}`, async () => { const s = await httpSource(url, { requestSize: rs }); const into = Buffer.alloc(size); await s.read(0, size, into); await s.close(); });
}
child.kill();
