// A small DNS client: one question over UDP, falling back to TCP when the answer is truncated.
// Used by verify-dns and the e2e tests, against the cluster's real CoreDNS.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export type RecordType = 'A' | 'AAAA' | 'SRV' | 'TXT' | 'CNAME' | 'PTR' | 'HINFO';

export interface DnsAnswer {
  name: string;
  type: string;
  ttl: number;
  data: string;
}

export interface DnsResponse {
  rcode: string;
  /** Names are as the server wrote them (case kept) so callers can check owner == question. */
  answers: DnsAnswer[];
  truncated: boolean;
  transport: 'udp' | 'tcp';
  /** The question as echoed by the server. */
  questionName: string | undefined;
}

export interface QueryOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  /** Skip UDP (e.g. through a port-forward, which carries only TCP). */
  tcpOnly?: boolean;
}

export class DnsTimeoutError extends Error {
  constructor(
    readonly server: string,
    readonly question: string,
    readonly ms: number,
  ) {
    super(`no answer from ${server} for ${question} within ${ms} ms`);
  }
}

let nextId = 1;
const newId = () => (nextId = (nextId % 65535) + 1);

function encodeQuery(name: string, type: RecordType, id: number): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
}

export function toResponse(packet: dnsPacket.Packet, transport: 'udp' | 'tcp'): DnsResponse {
  const answers = (packet.answers ?? []).map((a) => ({
    name: a.name,
    type: a.type,
    ttl: (a as { ttl?: number }).ttl ?? 0,
    data: typeof (a as { data?: unknown }).data === 'string' ? (a as { data: string }).data : JSON.stringify((a as { data?: unknown }).data),
  }));
  const flags = packet.flags ?? 0;
  return {
    rcode: (packet as { rcode?: string }).rcode ?? 'NOERROR',
    answers,
    truncated: (flags & dnsPacket.TRUNCATED_RESPONSE) !== 0,
    transport,
    questionName: packet.questions?.[0]?.name,
  };
}

/** A question waiting for its answer on a shared UDP socket. */
interface Pending {
  name: string;
  type: RecordType;
  resolve: (r: DnsResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Sockets a session spreads its questions over. Through a Service's ClusterIP (kube-dns), kube-proxy
 * keeps a UDP flow per source port on one CoreDNS pod: one socket would ask one replica only, and
 * the wait's right answers in a row (replicas load a change one by one) would prove nothing of the
 * others. Each question takes one of these at random, as a socket per question did.
 */
export const SESSION_SOCKETS = 16;

/**
 * Many questions in flight on a few UDP sockets, matched by id, question and server. A socket per
 * question (bind, send, close) cost more than the question itself: verify-dns for 40,000 names
 * spent most of its time there (issue #25). The sockets are unref'd: a pending question's timer
 * keeps the process alive, an idle session does not.
 */
export class UdpDnsSession {
  private readonly sockets: (dgram.Socket | undefined)[] = new Array(SESSION_SOCKETS).fill(undefined);
  private readonly pending = new Map<number, Pending>();
  private readonly fromServer: (address: string, family: string) => boolean;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {
    this.fromServer = sourceMatcher(host);
  }

  private socket(i: number): dgram.Socket {
    const have = this.sockets[i];
    if (have) return have;
    const sock = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
    sock.on('message', (msg, from) => {
      if (from.port !== this.port || !this.fromServer(from.address, String(from.family))) return;
      let packet: dnsPacket.Packet;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return; // garbage: the question waits for its own answer or its timeout
      }
      const p = packet.id === undefined ? undefined : this.pending.get(packet.id);
      // An answer echoes its question (a server's error, such as FORMERR, may carry none).
      const q = packet.questions?.[0];
      if (!p || (q && (bare(q.name) !== bare(p.name) || q.type !== p.type))) return;
      this.settle(packet.id!, p);
      p.resolve(toResponse(packet, 'udp'));
    });
    // A socket's error fails the questions in flight; the next question on it opens a new one.
    sock.on('error', (err) => {
      if (this.sockets[i] === sock) this.sockets[i] = undefined;
      sock.close();
      this.failAll(err);
    });
    sock.unref();
    return (this.sockets[i] = sock);
  }

  private settle(id: number, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(err);
    }
  }

  /** A random id not in flight: answers are matched by it, and a guessable one is spoofable. */
  private freeId(): number {
    for (;;) {
      const id = 1 + Math.floor(Math.random() * 65535);
      if (!this.pending.has(id)) return id;
    }
  }

  ask(name: string, type: RecordType): Promise<DnsResponse> {
    if (this.closed) return Promise.reject(new Error('the DNS session was closed'));
    if (this.pending.size >= 65535) return Promise.reject(new Error('more than 65,535 DNS questions in flight on one session'));
    const sock = this.socket(Math.floor(Math.random() * SESSION_SOCKETS));
    const id = this.freeId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id, p);
        reject(new DnsTimeoutError(`${this.host}:${this.port}`, name, this.timeoutMs));
      }, this.timeoutMs);
      const p: Pending = { name, type, resolve, reject, timer };
      this.pending.set(id, p);
      sock.send(encodeQuery(name, type, id), this.port, this.host, (err) => {
        if (err && this.pending.get(id) === p) {
          this.settle(id, p);
          reject(err);
        }
      });
    });
  }

  /** Fails what is in flight and refuses new questions. */
  close(): void {
    this.closed = true;
    for (const [i, sock] of this.sockets.entries()) {
      this.sockets[i] = undefined;
      sock?.close();
    }
    this.failAll(new Error('the DNS session was closed'));
  }
}

/**
 * Whether a datagram's source address is the server asked, compared as addresses, not strings: an
 * answer comes from the canonical form ("fd00::a" for "fd00:0::000a"). A host name: any source.
 */
export function sourceMatcher(host: string): (address: string, family: string) => boolean {
  if (!net.isIP(host)) return () => true;
  const server = new net.BlockList();
  server.addAddress(host, net.isIPv6(host) ? 'ipv6' : 'ipv4');
  return (address, family) => server.check(address, /6/.test(family) ? 'ipv6' : 'ipv4');
}

/** A name as compared with its echo: case and a trailing dot do not matter. */
const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** Splits a DNS-over-TCP byte stream into messages (2-byte length prefix), whatever the chunking. */
export class TcpDnsFramer {
  private buf = Buffer.alloc(0);
  constructor(private readonly onMessage: (packet: dnsPacket.Packet) => void) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < len + 2) return;
      const msg = this.buf.subarray(0, len + 2);
      this.buf = this.buf.subarray(len + 2);
      this.onMessage(dnsPacket.streamDecode(msg));
    }
  }
  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

/** DNS over TCP: one question on a fresh connection. */
export function queryTcp(name: string, type: RecordType, opts: Required<QueryOptions>): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const id = newId();
    const sock = net.connect({ host: opts.host, port: opts.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new DnsTimeoutError(`${opts.host}:${opts.port}`, name, opts.timeoutMs));
    }, opts.timeoutMs);
    const framer = new TcpDnsFramer((packet) => {
      if (packet.id !== id) return;
      clearTimeout(timer);
      sock.destroy();
      resolve(toResponse(packet, 'tcp'));
    });
    sock.on('connect', () =>
      sock.write(dnsPacket.streamEncode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] })),
    );
    sock.on('data', (chunk) => {
      try {
        framer.push(chunk);
      } catch (e) {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One question, on a session's socket when given one (UDP, then TCP when the answer is truncated). */
export async function query(name: string, type: RecordType, options: QueryOptions, session?: UdpDnsSession): Promise<DnsResponse> {
  const opts: Required<QueryOptions> = { timeoutMs: 2000, tcpOnly: false, ...options };
  if (opts.tcpOnly) return queryTcp(name, type, opts);
  const own = session ? undefined : new UdpDnsSession(opts.host, opts.port, opts.timeoutMs);
  try {
    const udp = await (session ?? own!).ask(name, type);
    return udp.truncated ? queryTcp(name, type, opts) : udp;
  } finally {
    own?.close();
  }
}

/** "host:port" -> parts, with a clear error. IPv6 as [::1]:53. */
export function parseHostPort(value: string, defaultPort = 53): { host: string; port: number } {
  const m = value.match(/^\[([^\]]+)\](?::(\d+))?$/) ?? value.match(/^([^:]+)(?::(\d+))?$/);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  const host = m?.[1] ?? '';
  const validHost = net.isIP(host) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(host);
  if (!m || !validHost || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"${value}" is not HOST:PORT (for example 127.0.0.1:10053 or [::1]:53)`);
  }
  return { host, port };
}
