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

function queryUdp(name: string, type: RecordType, opts: Required<QueryOptions>): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const id = newId();
    const sock = dgram.createSocket(net.isIPv6(opts.host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new DnsTimeoutError(`${opts.host}:${opts.port}`, name, opts.timeoutMs));
    }, opts.timeoutMs);
    sock.on('message', (msg) => {
      let packet: dnsPacket.Packet;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return; // not for us / garbage: keep waiting until the timeout
      }
      if (packet.id !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve(toResponse(packet, 'udp'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send(encodeQuery(name, type, id), opts.port, opts.host);
  });
}

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

export async function query(name: string, type: RecordType, options: QueryOptions): Promise<DnsResponse> {
  const opts: Required<QueryOptions> = { timeoutMs: 2000, tcpOnly: false, ...options };
  if (opts.tcpOnly) return queryTcp(name, type, opts);
  const udp = await queryUdp(name, type, opts);
  return udp.truncated ? queryTcp(name, type, opts) : udp;
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
