// The sync --watch controller as the process users run (bin/acmg.js), with its health port and log,
// and the VirtualServices bound to the acmg Gateway that the sync tests feed it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, applyObjects, eventually, kubeconfig } from './cluster.js';

export class Controller {
  proc?: ChildProcess;
  log = '';
  port = 0;
  async start(extraArgs: string[] = []): Promise<void> {
    this.log = '';
    this.proc = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'acmg.js'), 'sync', '--watch', '--health-port', '0', '--debounce', '300ms', '--leader-elect', ...extraArgs],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc.stderr!.on('data', (d) => (this.log += d));
    this.proc.stdout!.on('data', (d) => (this.log += d));
    const { value } = await eventually('controller serving health', 15_000, () => this.log.match(/on :(\d+)/)?.[1]);
    this.port = Number(value);
    await eventually('controller ready', 15_000, async () => (await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200);
  }
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    return Number(text.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return new Promise((resolve) => {
      if (!this.proc || this.proc.exitCode !== null) return resolve();
      this.proc.once('exit', () => resolve());
      this.proc.kill(signal);
    });
  }
}

/** A VirtualService in shop bound to the acmg Gateway, labelled acmg-test=<test> for clean-up. */
export function vsDoc(name: string, dest: string, o: { port?: number; test?: string } = {}) {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'shop', labels: { 'acmg-test': o.test ?? 'sync' } },
    spec: {
      hosts: [`${name}.example`],
      gateways: ['istio-system/acmg-gateway'],
      http: [{ route: [{ destination: { host: dest, port: { number: o.port ?? 9080 } } }] }],
    },
  };
}

export const applyVs = (docs: object[]) => applyObjects(docs, { fieldManager: 'test' });
