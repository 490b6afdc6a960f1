import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { request, Agent } from 'undici';
import http from 'node:http';
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
const agent = new Agent();
for (let i = 0; i < 2; i++) {
await t('undici data', async () => { const { body } = await request(url, { dispatcher: agent }); const into = Buffer.allocUnsafe(size); let at = 0; let n = 0;
  await new Promise((res, rej) => { body.on('data', (c) => { into.set(c, at); at += c.length; n++; }); body.once('end', res); body.once('error', rej); }); return `chunks ${n} avg ${(at / n / 1024).toFixed(0)} KiB`; });
await t('undici no copy', async () => { const { body } = await request(url, { dispatcher: agent }); let at = 0;
  await new Promise((res, rej) => { body.on('data', (c) => { at += c.length; }); body.once('end', res); body.once('error', rej); }); });
await t('node http', () => new Promise((res) => http.get(url, (r) => { const into = Buffer.allocUnsafe(size); let at = 0; let n = 0; r.on('data', (c) => { into.set(c, at); at += c.length; n++; }); r.on('end', () => res(`chunks ${n} avg ${(at / n / 1024).toFixed(0)} KiB`)); })));
await t('undici 8 parallel 4MiB', async () => { const into = Buffer.allocUnsafe(size); const part = 4 << 20; let next = 0;
  const worker = async () => { for (;;) { const s = next; if (s >= size) return; next += part; const e = Math.min(size, s + part);
    const { body } = await request(url, { dispatcher: agent, headers: { range: `bytes=${s}-${e - 1}` } }); let at = s;
    await new Promise((res, rej) => { body.on('data', (c) => { into.set(c, at); at += c.length; }); body.once('end', res); body.once('error', rej); }); } };
  await Promise.all(Array.from({ length: 8 }, worker)); });
}
child.kill(); await agent.close();
