// The one home of a change to cluster DNS, as migrate, rollback, sync and uninstall make it:
// one ConfigMap write; where CoreDNS has no reload plugin, a restart so it serves the write; then,
// with a resolver, a wait until DNS answers as expected, rewriting once halfway where CoreDNS can
// miss a write (reloadNudge); every write counted, the repair's included.
import type { DnsEntry } from '../coredns/region.js';
import type { Layout } from '../coredns/layout.js';
import { waitForAnswers, type Resolver, type Want, type WrongAnswer } from '../dns/resolver.js';
import type { KubeApi } from '../kube/api.js';
import { restoreDns, updateDnsEntries, type DnsSettings } from '../kube/dns-store.js';
import { makeDnsChangeTakeEffect, reloadNudge } from './coredns-restart.js';
import type { Task } from './task.js';

export interface DnsChange {
  /** The task line of the write. */
  title: string;
  /** acmg's entries after the change, from the current ones; 'restore' takes acmg's region and keys out, keeping everything else (purge). */
  edit: ((current: DnsEntry[]) => DnsEntry[]) | 'restore';
  /** Rewrite acmg's region even where it was edited by hand. */
  force?: boolean;
}

export interface DnsRuntime {
  task: Task;
  /** How long a CoreDNS restart (layouts without reload) may take. */
  readinessTimeoutMs: number;
}

export interface AnswerCheck {
  /** The names still answering wrong at the end (empty: DNS answers the change). */
  wrong: WrongAnswer[];
  /** Whether the wait rewrote the region (or restarted CoreDNS) to repair a write CoreDNS missed. */
  repaired: boolean;
  /** ConfigMap writes the repair made. */
  writes: number;
}

export interface DnsChangeResult {
  /** ConfigMap writes made (0 when DNS already was as wanted). */
  writes: number;
  /** Whether CoreDNS was restarted to serve the write. */
  restarted: boolean;
  /** The layout written; undefined for a restore. */
  layout?: Layout;
  /** Waits until DNS answers `expect` through the resolver; halfway, repairs a write CoreDNS missed. */
  answers(
    resolver: Resolver,
    expect: Map<string, Want>,
    o: { timeoutMs: number; onProgress?: (text: string) => void; signal?: AbortSignal },
  ): Promise<AnswerCheck>;
}

export async function changeDns(kube: KubeApi, s: DnsSettings, change: DnsChange, rt: DnsRuntime): Promise<DnsChangeResult> {
  const { writes, reloads, layout } = await rt.task(change.title, async () => {
    if (change.edit === 'restore') {
      const r = await restoreDns(kube, s);
      return { writes: r.writes, reloads: r.reloads, layout: undefined };
    }
    const w = await updateDnsEntries(kube, s, change.edit, { force: change.force });
    return { writes: w.writes, reloads: w.layout.reloads, layout: w.layout };
  });
  const restarted = writes > 0 && (await makeDnsChangeTakeEffect(kube, s, reloads, { task: rt.task, timeoutMs: rt.readinessTimeoutMs }));
  return {
    writes,
    restarted,
    ...(layout ? { layout } : {}),
    async answers(resolver, expect, o) {
      const check: AnswerCheck = { wrong: [], repaired: false, writes: 0 };
      const nudge =
        layout &&
        reloadNudge(kube, s, layout, { task: rt.task, dnsTimeoutMs: o.timeoutMs, readinessTimeoutMs: rt.readinessTimeoutMs, force: change.force }, (n) => {
          check.writes += n;
        });
      check.wrong = await waitForAnswers(resolver, expect, {
        timeoutMs: o.timeoutMs,
        onProgress: o.onProgress,
        signal: o.signal,
        nudge: nudge && {
          ...nudge,
          run: async () => {
            check.repaired = true;
            await nudge.run();
          },
        },
      });
      return check;
    },
  };
}
