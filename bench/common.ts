// What the service benchmarks share: child processes started the way `npm start` runs the service, free ports,
// medians, and the CPU time a process used (from /proc, which scheduling noise disturbs less than request rates).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench files run from dist/bench/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/passslot.js');

export const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {}

/** CPU time (user + system, all threads) a process has used, in ms; undefined where /proc is missing. */
export function cpuMs(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

const children: ChildProcess[] = [];

/** Starts `node args` (from the repository root) and resolves once its stdout shows `ready`. */
export function startChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
  ipc = false,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
    });
    children.push(child);
    let out = '';
    const onExit = (code: number | null) =>
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready:\n${out}`));
    child.once('exit', onExit);
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
    child.stdout!.on('data', (d: Buffer) => {
      if (out.includes(ready)) return;
      out += d.toString();
      if (out.includes(ready)) {
        child.off('exit', onExit);
        resolve(child);
      }
    });
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops every child started with startChild (SIGTERM, then SIGKILL after 10 s). */
export async function stopAll(): Promise<void> {
  await Promise.all(children.map(stopChild));
}

export interface InitResult {
  appKey: string;
  templateId: number;
  passTypeIdentifier: string;
  devCaPath: string;
}

/** `passslot init --json` with the given environment. */
export function runInit(env: NodeJS.ProcessEnv): Promise<InitResult> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [BIN, 'init', '--json'], { cwd: ROOT, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`passslot init failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as InitResult);
    }),
  );
}

/** Runs fn and returns its count per second and the CPU µs of process `pid` per counted operation. */
export async function measured(
  pid: number | undefined,
  fn: () => Promise<{ count: number; seconds: number }>,
): Promise<{ rate: number; cpuUs: number }> {
  const before = cpuMs(pid);
  const { count, seconds } = await fn();
  const after = cpuMs(pid);
  const cpuUs = before === undefined || after === undefined ? Number.NaN : ((after - before) * 1000) / count;
  return { rate: count / seconds, cpuUs };
}
