// Which services a migrate names: exactly one way of choosing, checked before any cluster call.
import { usageError } from '../errors.js';

/** Namespaces whose Services acmg never moves or steers (nor its own install namespace). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];

export interface Selection {
  services: string[];
  namespace?: string;
  all?: boolean;
  selector?: string;
  allNamespaces?: boolean;
}

export function checkSelection(sel: Selection): void {
  const modes = [sel.services.length > 0, Boolean(sel.all), Boolean(sel.selector), Boolean(sel.allNamespaces)].filter(Boolean).length;
  if (modes !== 1)
    throw usageError(
      modes === 0 ? 'say which services to migrate: SERVICE names, --all, -l SELECTOR or -A' : 'choose exactly one of: SERVICE names, --all, -l SELECTOR, -A',
      'for example: acmg migrate helloworld -n default --keep-service',
    );
  if ((sel.services.length > 0 || sel.all) && !sel.namespace) throw usageError('-n NAMESPACE is required with service names and with --all');
}
