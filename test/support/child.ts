// Long-running helper processes of the tests (KEDA, Argo Rollouts): started with their output in a
// log file, stopped with SIGTERM and, after 5 s, SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export function startLogged(bin: string, args: string[], env: NodeJS.ProcessEnv, log: string, cwd: string): ChildProcess {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], env, cwd });
  closeSync(fd);
  return child;
}

export async function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
}
