/**
 * The CLI on object store URLs, as a user runs it: credentials from the environment, reading commands and `view`
 * on s3://, gs:// and hf://, `convert` uploading to s3:// and gs://, Ctrl-C aborting an upload. No secret ever
 * appears on stdout, stderr, in --json output, a progress line, or the viewer's answers.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveNpz } from '../../src/index.js';
import { ensureBuilt, runCliAsync, ROOT, BIN } from '../helpers/cli.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startView } from '../helpers/view.js';
import { spawn } from 'node:child_process';
import { mixedTree } from './helpers.js';
import { startGcsServer, type GcsServer } from './gcs-server.js';
import { startHubServers, type HubServers } from './hub-server.js';
import { startS3Server, type S3Server } from './s3-server.js';

const SECRET = 'cli-secret-access-key-must-not-leak';
const KEY_ID = 'AKIDCLITEST';
const HF_TOKEN = 'hf_CliTokenThatMustNotLeak';
const GCS_TOKEN = 'ya29.cli-token-must-not-leak';
const SECRETS = [SECRET, HF_TOKEN, GCS_TOKEN];

let s3: S3Server;
let gcs: GcsServer;
let hub: HubServers;
let dir: TempDir;

function awsEnv(secret = SECRET): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: KEY_ID,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: dir.file('none'),
    AWS_CONFIG_FILE: dir.file('none'),
    NPZ_STREAM_PROGRESS: 'always',
  };
}

function expectNoSecret(...texts: string[]): void {
  for (const text of texts) for (const secret of SECRETS) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  ensureBuilt();
  dir = makeTempDir('objectstore-cli');
  s3 = await startS3Server({ region: 'eu-west-1', credentials: [{ accessKeyId: KEY_ID, secretAccessKey: SECRET }] });
  gcs = await startGcsServer();
  hub = await startHubServers({ 'google/paligemma': { gated: true, revisions: { main: { 'ckpt.npz': readFileSync(PALIGEMMA) } } } }, { tokens: [HF_TOKEN], lfsThreshold: 1024 });
  s3.putObject('bucket', 'models/paligemma.npz', readFileSync(PALIGEMMA));
});
afterEach(() => {
  s3.fault = undefined;
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await s3.close();
  await gcs.close();
  await hub.close();
  dir.remove();
});

// Each test spawns several CLI processes: on a loaded machine that takes longer than the default minute.
describe('the CLI on object store URLs', { timeout: 180_000 }, () => {
  it('lists and verifies an s3:// checkpoint with credentials from the environment, printing no secret', async () => {
    const local = await runCliAsync(['ls', PALIGEMMA, '--json']);
    const ls = await runCliAsync(['ls', 's3://bucket/models/paligemma.npz', '--json'], { env: awsEnv() });
    expect(ls.stderr).toBe('');
    expect(ls.status).toBe(0);
    const entries = (text: string): unknown => (JSON.parse(text) as { entries: unknown }).entries;
    expect(entries(ls.stdout)).toEqual(entries(local.stdout));
    const verify = await runCliAsync(['verify', 's3://bucket/models/paligemma.npz'], { env: awsEnv() });
    expect(verify.status).toBe(0);
    // With progress lines forced on, they name the URL only.
    const stats = await runCliAsync(['stats', 's3://bucket/models/paligemma.npz'], { env: awsEnv() });
    expect(stats.status).toBe(0);
    expectNoSecret(ls.stdout, ls.stderr, verify.stdout, verify.stderr, stats.stdout, stats.stderr);
  });

  it('reports wrong credentials and a missing key as clear errors with codes, printing no secret', async () => {
    const denied = await runCliAsync(['ls', 's3://bucket/models/paligemma.npz', '--json'], { env: awsEnv('a-wrong-secret-value') });
    expect(denied.status).toBe(2);
    expect(denied.stderr).toMatch(/^npz-stream: s3:\/\/bucket\/models\/paligemma\.npz: access denied while reading \(HTTP 403 SignatureDoesNotMatch.*\[ERR_REMOTE_STATUS\]\n$/);
    expect(denied.stdout).toBe('');
    const missing = await runCliAsync(['cat', 's3://bucket/models/missing.npz', 'x'], { env: awsEnv() });
    expect(missing.stderr).toBe('npz-stream: s3://bucket/models/missing.npz: no such key in bucket bucket (HTTP 404 NoSuchKey) [ERR_REMOTE_STATUS]\n');
    expectNoSecret(denied.stderr, missing.stderr);
    expect(denied.stderr).not.toContain('a-wrong-secret-value');
  });

  it('converts to s3:// and gs:// (and between them), byte for byte what a local save writes', async () => {
    await saveNpz(dir.file('mixed.npz'), mixedTree());
    const up = await runCliAsync(['convert', dir.file('mixed.npz'), 's3://bucket/out/mixed.npz'], { env: awsEnv() });
    expect(up.stderr).not.toContain('ERR_');
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/^wrote s3:\/\/bucket\/out\/mixed\.npz: 6 arrays/);
    expect(s3.getObject('bucket', 'out/mixed.npz')!.equals(readFileSync(dir.file('mixed.npz')))).toBe(true);
    const across = await runCliAsync(['convert', 's3://bucket/out/mixed.npz', 'gs://bucket/out/mixed.safetensors'], {
      env: { ...awsEnv(), STORAGE_EMULATOR_HOST: gcs.origin },
    });
    expect(across.status).toBe(0);
    const back = await runCliAsync(['convert', 'gs://bucket/out/mixed.safetensors', dir.file('back.npz')], { env: { STORAGE_EMULATOR_HOST: gcs.origin } });
    expect(back.status).toBe(0);
    expect(readFileSync(dir.file('back.npz')).equals(readFileSync(dir.file('mixed.npz')))).toBe(true);
    expectNoSecret(up.stdout, up.stderr, across.stdout, across.stderr);
  });

  it('Ctrl-C during an upload aborts it: exit 130, no object, no open upload', async () => {
    // Parts are held in flight until the CLI is interrupted.
    s3.fault = (operation) => (operation.name === 'UploadPart' ? 'hang' : undefined);
    const child = spawn(process.execPath, [BIN, 'convert', dir.file('mixed.npz'), 's3://bucket/out/interrupted.npz'], {
      cwd: ROOT,
      env: { ...process.env, ...awsEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (piece: Buffer) => (stderr += piece.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const deadline = Date.now() + 30_000;
    while (!s3.log.some((request) => request.name === 'UploadPart' && /interrupted/.test(request.url)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    s3.fault = undefined;
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('[ERR_ABORTED]');
    expect(s3.hasObject('bucket', 'out/interrupted.npz')).toBe(false);
    expect(s3.openUploads()).toEqual([]);
    expect(s3.log.filter((request) => /interrupted/.test(request.url)).at(-1)?.name).toBe('AbortMultipartUpload');
  });

  it('reads hf:// with HF_TOKEN, and names the gated repo without the token', async () => {
    const env = { HF_ENDPOINT: hub.endpoint, HF_TOKEN_PATH: dir.file('no-token'), NPZ_STREAM_PROGRESS: 'always' };
    const ls = await runCliAsync(['ls', 'hf://google/paligemma/ckpt.npz', '--json'], { env: { ...env, HF_TOKEN } });
    expect(ls.status).toBe(0);
    expect(hub.cdnLog.length).toBeGreaterThan(0);
    expect(hub.cdnLog.every((request) => request.headers.authorization === undefined)).toBe(true);
    const gated = await runCliAsync(['ls', 'hf://google/paligemma/ckpt.npz'], { env: { ...env, HF_TOKEN: 'hf_NotTheRightTokenValue' } });
    expect(gated.status).toBe(2);
    expect(gated.stderr).toMatch(/repo google\/paligemma was not found, or it is private and the token has no access/);
    expectNoSecret(ls.stdout, ls.stderr, gated.stderr);
    expect(gated.stderr).not.toContain('hf_NotTheRightTokenValue');
  });

  it('view shows an s3:// checkpoint, and an unreadable one as an error, without a secret anywhere', async () => {
    for (const [name, value] of Object.entries(awsEnv())) vi.stubEnv(name, value);
    vi.stubEnv('NPZ_STREAM_PROGRESS', undefined);
    const view = await startView(['s3://bucket/models/paligemma.npz']);
    try {
      const overview = await (await fetch(`http://127.0.0.1:${view.port}/api/overview?file=0&token=${view.token}`)).text();
      expect(overview).toContain('img/Transformer/encoder_norm/bias');
      const files = await (await fetch(`http://127.0.0.1:${view.port}/api/files?token=${view.token}`)).text();
      expect(files).toContain('s3://bucket/models/paligemma.npz');
      expectNoSecret(overview, files, view.stderr());
    } finally {
      await view.stop();
    }
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'view-wrong-secret');
    const failing = await startView(['s3://bucket/models/paligemma.npz']);
    try {
      const files = await (await fetch(`http://127.0.0.1:${failing.port}/api/files?token=${failing.token}`)).text();
      expect(files).toContain('ERR_REMOTE_STATUS');
      expect(files).not.toContain('view-wrong-secret');
      expect(failing.stderr()).not.toContain('view-wrong-secret');
    } finally {
      await failing.stop();
    }
  });
});
