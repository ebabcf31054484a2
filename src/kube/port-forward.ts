// DNS through the API server's port-forward to a CoreDNS pod, so verify-dns and migrate can ask the
// real cluster DNS from a CI runner that only has a kubeconfig. WebSocket protocol
// v4.channel.k8s.io: each message starts with a channel byte (0 data, 1 error for the one port);
// the first message on each channel is the port number. DNS over TCP, queries pipelined on one stream.
import dnsPacket from 'dns-packet';
import WebSocket from 'ws';
import { AcmgError, ExitCode } from '../errors.js';
import type { DnsResponse, RecordType } from '../dns/client.js';
import { DnsTimeoutError, TcpDnsFramer, toResponse } from '../dns/client.js';
import type { Resolver } from '../dns/resolver.js';
import type { ConnectionOptions, Kube } from './client.js';

const DNS_POD_SELECTORS = ['k8s-app=kube-dns', 'k8s-app=coredns', 'app.kubernetes.io/name=coredns'];

/** A Running, Ready CoreDNS pod to forward to. */
export async function findDnsPod(kube: Kube, namespace: string): Promise<string> {
  for (const sel of DNS_POD_SELECTORS) {
    const pods = (await kube.list('v1', 'Pod', { namespace, labelSelector: sel })).items;
    const ready = pods.find((p) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'));
    if (ready) return ready.metadata.name;
  }
  throw new AcmgError(
    ExitCode.Cluster,
    `no Ready CoreDNS pod found in namespace ${namespace} (labels tried: ${DNS_POD_SELECTORS.join(', ')})`,
    'use --nameserver HOST:PORT to query a nameserver directly',
  );
}

interface Pending {
  resolve: (r: DnsResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export async function portForwardResolver(kube: Kube, namespace: string, timeoutMs = 3000): Promise<Resolver> {
  let ws: WebSocket | undefined;
  let opening: Promise<WebSocket> | undefined;
  let pod = '';
  const pending = new Map<number, Pending>();
  let nextId = 1;

  const failAll = (err: Error) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(err);
      pending.delete(id);
    }
  };

  const framer = new TcpDnsFramer((packet) => {
    const p = pending.get(packet.id ?? -1);
    if (!p) return;
    pending.delete(packet.id!);
    clearTimeout(p.timer);
    p.resolve(toResponse(packet, 'tcp'));
  });
  const onData = (payload: Buffer) => framer.push(payload);

  const open = async (): Promise<WebSocket> => {
    if (ws && ws.readyState === WebSocket.OPEN) return ws;
    if (opening) return opening;
    opening = (async () => {
      pod = pod || (await findDnsPod(kube, namespace));
      const url = kube.apiUrl(`/api/v1/namespaces/${namespace}/pods/${pod}/portforward`, { ports: 53 }, true);
      const handshake = (o: ConnectionOptions) => {
        kube.requests++;
        // tls-server-name is the name checked against the API server's certificate (and sent in
        // SNI) here too; through a proxy, the agent tunnels to the API server.
        const sock = new WebSocket(url, ['v4.channel.k8s.io'], {
          ca: o.ca,
          cert: o.cert,
          key: o.key,
          servername: o.servername,
          agent: o.agent,
          headers: o.headers as Record<string, string>,
          rejectUnauthorized: o.rejectUnauthorized,
          handshakeTimeout: timeoutMs,
        } as WebSocket.ClientOptions);
        sock.on('error', () => undefined); // reported once below, or by 'close' once open
        return new Promise<WebSocket>((resolve, reject) => {
          sock.once('open', () => resolve(sock));
          sock.once('error', (e) =>
            reject(
              new AcmgError(
                ExitCode.Cluster,
                `port-forward to ${namespace}/${pod}:53 failed: ${e.message}`,
                'use --nameserver HOST:PORT to query a nameserver directly',
              ),
            ),
          );
          sock.once('unexpected-response', (_req, res) => {
            res.resume();
            sock.terminate();
            reject(
              Object.assign(
                new AcmgError(
                  ExitCode.Cluster,
                  `port-forward to ${namespace}/${pod}:53 was refused: HTTP ${res.statusCode}`,
                  res.statusCode === 401
                    ? 'the API server did not accept the credentials of the kubeconfig user'
                    : 'acmg needs the pods/portforward permission in that namespace; or use --nameserver',
                ),
                { status: res.statusCode },
              ),
            );
          });
        });
      };
      const first = await kube.connectionOptions();
      let sock: WebSocket;
      try {
        sock = await handshake(first);
      } catch (e) {
        // A 401: refreshed credentials (exec plugin, rotated token) get one more handshake, as requests do.
        if ((e as { status?: number }).status !== 401 || !(await kube.unauthorized(first.generation))) throw e;
        sock = await handshake(await kube.connectionOptions());
      }
      const seen = [false, false]; // the port-number prefix of each channel
      sock.on('message', (data: Buffer) => {
        const ch = data[0];
        const body = data.subarray(1);
        if (ch === undefined || ch > 1) return;
        if (!seen[ch]) {
          seen[ch] = true; // 2-byte port number
          if (body.length <= 2) return;
          if (ch === 0) onData(body.subarray(2));
          return;
        }
        if (ch === 0) onData(body);
        else if (body.length) failAll(new Error(`port-forward error: ${body.toString('utf8')}`));
      });
      sock.on('close', () => {
        ws = undefined;
        framer.reset();
        failAll(new Error('port-forward stream closed'));
      });
      ws = sock;
      return sock;
    })().finally(() => {
      opening = undefined;
    });
    return opening;
  };

  return {
    get describe() {
      return `port-forward to ${namespace}/${pod || 'coredns'}:53 (TCP)`;
    },
    async ask(name: string, type: RecordType): Promise<DnsResponse> {
      const sock = await open();
      const id = (nextId = (nextId % 65535) + 1);
      return new Promise<DnsResponse>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new DnsTimeoutError(`port-forward ${namespace}/${pod}:53`, name, timeoutMs));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        const q = dnsPacket.streamEncode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
        sock.send(Buffer.concat([Buffer.from([0]), q]));
      });
    },
    async close() {
      failAll(new Error('resolver closed'));
      ws?.close();
    },
  };
}
