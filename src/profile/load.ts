// Resolves the values acmg installs: base -> profile -> each -f overlay -> each --set.
// File reading lives here; merging, validation and --set parsing are pure modules.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usageError } from '../errors.js';
import { INPUT_LIMITS, readBounded, STDIN } from '../input/read-bounded.js';
import { excerpt, loadAllBounded } from '../input/safe-yaml.js';
import { closest } from './suggest.js';
import { deepMerge, isPlainObject } from './merge.js';
import { applySets, parseSetFlag } from './set-flag.js';
import { validateDocument } from './validate.js';
import type { AcmgOperator } from './schema.js';

export const DEFAULT_PROFILE = 'acmg';
const BASE_FILE = '_base.yaml';

let installedProfiles: string | undefined;

/** profiles/ next to the package root, found from this module (works from src/ and from dist/). */
export function profilesDir(): string {
  if (process.env.ACMG_PROFILES_DIR) return process.env.ACMG_PROFILES_DIR;
  // Searched once a process: a values resolution asks three times.
  installedProfiles ??= findProfilesDir();
  return installedProfiles;
}

function findProfilesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'profiles');
    if (existsSync(join(candidate, BASE_FILE))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('acmg installation is broken: profiles/ not found');
}

export interface ProfileInfo {
  name: string;
  description: string;
}

/** Reads a YAML file (or standard input for "-") within acmg's input limits. */
function readYamlFile(path: string, what: string): unknown {
  const text = readBounded(path, INPUT_LIMITS.valuesFileBytes, what);
  return parseYamlDocument(text, path === STDIN ? `${what} on standard input` : `${what} "${path}"`);
}

export function parseYamlDocument(text: string, what: string): unknown {
  const docs = loadAllBounded(text, what).filter((d) => d !== null && d !== undefined);
  if (docs.length === 0) return {};
  if (docs.length > 1) throw usageError(`${what} has ${docs.length} YAML documents; an overlay is one AcmgOperator document`);
  if (!isPlainObject(docs[0]))
    throw usageError(`${what} must be a YAML mapping (an AcmgOperator document), not ${Array.isArray(docs[0]) ? 'a list' : excerpt(docs[0])}`);
  return docs[0];
}

/** The profiles' names, from the file names alone: choosing one must not parse them all. */
export function profileNames(): string[] {
  return readdirSync(profilesDir())
    .filter((f) => f.endsWith('.yaml') && !f.startsWith('_'))
    .sort()
    .map((f) => f.slice(0, -'.yaml'.length));
}

export function listProfiles(): ProfileInfo[] {
  const dir = profilesDir();
  return profileNames().map((name) => {
    const doc = readYamlFile(join(dir, `${name}.yaml`), 'profile') as Partial<AcmgOperator>;
    return { name, description: doc.metadata?.description ?? '' };
  });
}

function loadProfileDoc(name: string): unknown {
  const names = profileNames();
  if (!names.includes(name)) {
    const near = closest(name, names);
    throw usageError(
      `unknown profile ${excerpt(name)}${near ? ` (did you mean "${near}"?)` : ''}`,
      `available profiles: ${names.join(', ')} (see: acmg profile list)`,
    );
  }
  return readYamlFile(join(profilesDir(), `${name}.yaml`), 'profile');
}

export interface ResolveRequest {
  profile?: string;
  files?: string[];
  sets?: string[];
  /** Told about values that are valid but do nothing (printed as warnings by the CLI). */
  onWarning?: (message: string) => void;
}

/** Overlays may be written with or without the apiVersion/kind/spec envelope (a bare spec). */
function asOverlay(doc: unknown, what: string): Record<string, unknown> {
  const d = doc as Record<string, unknown>;
  if ('spec' in d || 'kind' in d || 'apiVersion' in d) {
    if (d.kind !== undefined && d.kind !== 'AcmgOperator') throw usageError(`${what}: kind is ${excerpt(d.kind)}; expected AcmgOperator`);
    return d;
  }
  return { spec: d };
}

export function resolveValues(req: ResolveRequest): AcmgOperator {
  const files = req.files ?? [];
  if (files.filter((f) => f === STDIN).length > 1) throw usageError('-f - (standard input) can be given once');
  const overlays = files.map((f) =>
    asOverlay(readYamlFile(f === STDIN ? STDIN : resolve(f), 'overlay file'), f === STDIN ? 'overlay on standard input' : `overlay file "${f}"`),
  );
  const sets = (req.sets ?? []).map(parseSetFlag);
  // --profile wins; otherwise the last overlay that names one (istioctl behaviour); otherwise the default.
  const fromFiles = overlays.map((o) => (o.spec as Record<string, unknown> | undefined)?.profile).filter((p): p is string => typeof p === 'string');
  const profileSet = sets.find((s) => s.path.length === 1 && s.path[0] === 'profile');
  const profile = req.profile ?? (profileSet ? String(profileSet.value) : undefined) ?? fromFiles[fromFiles.length - 1] ?? DEFAULT_PROFILE;

  let doc = deepMerge(readYamlFile(join(profilesDir(), BASE_FILE), 'base values'), loadProfileDoc(profile)) as Record<string, unknown>;
  const profileReplicas = (doc.spec as any)?.gateway?.replicas;
  for (const o of overlays) doc = deepMerge(doc, o) as Record<string, unknown>;
  doc = { ...doc, spec: applySets(doc.spec, sets) };
  (doc.spec as Record<string, unknown>).profile = profile;
  const metadata = (doc.metadata ?? {}) as Record<string, unknown>;
  doc.metadata = { ...metadata, name: profile };

  const problems = validateDocument(doc);
  if (problems.length > 0) {
    throw usageError(problems, 'fix the values above in your -f files or --set flags; `acmg profile dump` shows every valid field');
  }
  const values = doc as unknown as AcmgOperator;
  // Only a count of the user's own: one equal to the profile's (as in `acmg profile dump ha` fed back
  // with -f) is the profile speaking, and the profile is not warned about itself.
  const setsReplicas =
    (sets.some((s) => s.path.join('.') === 'gateway.replicas') || overlays.some((o) => (o.spec as any)?.gateway?.replicas !== undefined)) &&
    values.spec.gateway.replicas !== profileReplicas;
  if (setsReplicas && values.spec.gateway.autoscaling.enabled) {
    req.onWarning?.(
      `gateway.replicas (${values.spec.gateway.replicas}) has no effect while gateway.autoscaling.enabled is true: the autoscaler owns the replica count; set gateway.autoscaling.minReplicas instead`,
    );
  }
  return values;
}

export function loadProfile(name: string): AcmgOperator {
  return resolveValues({ profile: name });
}
