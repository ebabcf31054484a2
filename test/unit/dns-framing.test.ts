import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { TcpDnsFramer, toResponse } from '../../src/dns/client.js';

const answer = (id: number, name: string, ip: string) =>
  dnsPacket.streamEncode({
    type: 'response',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name, class: 'IN' }],
    answers: [{ type: 'A', name, ttl: 5, class: 'IN', data: ip }],
  });

describe('DNS over TCP framing', () => {
  test('property: however the stream is chunked, every message comes out whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
        (ids, cuts) => {
          const stream = Buffer.concat(ids.map((id, i) => answer(id + 1, `svc-${i}.default.svc.cluster.local`, `10.96.0.${i + 1}`)));
          const got: number[] = [];
          const framer = new TcpDnsFramer((p) => got.push(p.id!));
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            framer.push(stream.subarray(at, at + n));
            at += n;
          }
          expect(got).toEqual(ids.map((id) => id + 1));
        },
      ),
    );
  });

  test('toResponse keeps the owner name and the answer data', () => {
    const packet = dnsPacket.streamDecode(answer(7, 'HelloWorld.default.svc.cluster.local', '10.96.0.9'));
    expect(toResponse(packet, 'tcp')).toMatchObject({
      rcode: 'NOERROR',
      transport: 'tcp',
      answers: [{ name: 'HelloWorld.default.svc.cluster.local', type: 'A', data: '10.96.0.9', ttl: 5 }],
    });
  });
});
