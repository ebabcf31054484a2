// The shared UDP socket of a direct resolver (issue #25): many questions in flight at once, each
// matched to its own answer by id, question and server; and verify-dns asking each distinct
// question once. The responder is a few lines of dgram; real CoreDNS answers in the e2e tests.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { SESSION_SOCKETS, UdpDnsSession, sourceMatcher } from '../../src/dns/client.js';
import { runVerification } from '../../src/ops/verify-dns.js';
import type { Resolver } from '../../src/dns/resolver.js';
import type { DnsResponse } from '../../src/dns/client.js';

type Reply = (q: dnsPacket.Packet) => dnsPacket.Packet | undefined;

/** A UDP responder: collects `batch` questions, then answers them in reverse order. */
async function responder(reply: Reply, batch = 1): Promise<{ port: number; sockets: Set<number>; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  const sockets = new Set<number>();
  let held: { q: dnsPacket.Packet; port: number; address: string }[] = [];
  sock.on('message', (msg, from) => {
    sockets.add(from.port);
    held.push({ q: dnsPacket.decode(msg), port: from.port, address: from.address });
    if (held.length < batch) return;
    for (const h of held.reverse()) {
      const a = reply(h.q);
      if (a) sock.send(dnsPacket.encode(a), h.port, h.address);
    }
    held = [];
  });
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  return { port: sock.address().port, sockets, close: () => sock.close() };
}

const answer = (q: dnsPacket.Packet, ip: string, name = q.questions![0]!.name): dnsPacket.Packet => ({
  type: 'response',
  id: q.id,
  flags: dnsPacket.AUTHORITATIVE_ANSWER,
  questions: [{ ...q.questions![0]!, name }],
  answers: [{ type: 'A', name, ttl: 5, data: ip }],
});

test('questions in flight together each get their own answer, whatever the order, over a few sockets (kube-proxy spreads them over the CoreDNS replicas)', async () => {
  // svc-N answers 10.0.0.N; the responder holds all 50 and answers them last first.
  const r = await responder((q) => answer(q, `10.0.0.${q.questions![0]!.name.split('-')[1]!.split('.')[0]}`), 50);
  const s = new UdpDnsSession('127.0.0.1', r.port, 2000);
  try {
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => s.ask(`svc-${i}.shop.svc.cluster.local`, 'A')));
    expect(got.map((g) => g.answers[0]!.data)).toEqual(Array.from({ length: 50 }, (_, i) => `10.0.0.${i}`));
    // Not one source port (one kube-proxy flow, one replica), not one per question either.
    expect(r.sockets.size).toBeGreaterThan(1);
    expect(r.sockets.size).toBeLessThanOrEqual(SESSION_SOCKETS);
  } finally {
    s.close();
    r.close();
  }
});

test('an answer with the right id but another question is not taken: the question times out', async () => {
  const r = await responder((q) => answer(q, '10.6.6.6', 'evil.example.com'));
  const s = new UdpDnsSession('127.0.0.1', r.port, 300);
  try {
    await expect(s.ask('reviews.shop.svc.cluster.local', 'A')).rejects.toThrow(
      /no answer from 127\.0\.0\.1:\d+ for reviews\.shop\.svc\.cluster\.local within 300 ms/,
    );
  } finally {
    s.close();
    r.close();
  }
});

test('closing a session fails the questions still in flight, and refuses new ones', async () => {
  const r = await responder(() => undefined);
  const s = new UdpDnsSession('127.0.0.1', r.port, 5000);
  const pending = s.ask('reviews.shop.svc.cluster.local', 'A');
  s.close();
  await expect(pending).rejects.toThrow('the DNS session was closed');
  await expect(s.ask('ratings.shop.svc.cluster.local', 'A')).rejects.toThrow('the DNS session was closed');
  r.close();
});

test('verify-dns asks each distinct question once: 5 for a migrated service, not 8', async () => {
  const asked: string[] = [];
  const fqdn = 'reviews.shop.svc.cluster.local';
  const r: Resolver = {
    describe: 'table',
    ask: async (name, type): Promise<DnsResponse> => {
      asked.push(`${type} ${name}`);
      const hit = name === fqdn;
      return {
        rcode: hit ? 'NOERROR' : 'NXDOMAIN',
        answers: hit && type === 'A' ? [{ name, type: 'A', ttl: 5, data: '10.96.0.50' }] : [],
        truncated: false,
        transport: 'udp',
        questionName: name,
      };
    },
    close: async () => {},
  };
  const results = await runVerification(r, [{ namespace: 'shop', service: 'reviews', migrated: true, expected: '10.96.0.50' }], 'cluster.local');
  expect(results.map((x) => [x.form, x.pass])).toEqual([
    ['fqdn', true],
    ['short, same namespace', true],
    ['name.namespace, other namespace', true],
    ['name.namespace.svc', true],
  ]);
  expect(asked.sort()).toEqual(
    [
      `A ${fqdn}`,
      'A reviews.shop.acmg-verify-elsewhere.svc.cluster.local',
      'A reviews.shop.svc.acmg-verify-elsewhere.svc.cluster.local',
      'A reviews.shop.svc.svc.cluster.local',
      `AAAA ${fqdn}`,
    ].sort(),
  );
});

test("an answer's source is compared with the server as an address: IPv6 written long matches its canonical source", () => {
  expect(sourceMatcher('fd00:10:96:0::000a')('fd00:10:96::a', 'IPv6')).toBe(true);
  expect(sourceMatcher('fd00:10:96::a')('fd00:10:96::b', 'IPv6')).toBe(false);
  expect(sourceMatcher('10.96.0.10')('10.96.0.10', 'IPv4')).toBe(true);
  expect(sourceMatcher('10.96.0.10')('10.96.0.11', 'IPv4')).toBe(false);
});
