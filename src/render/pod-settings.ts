// The pod-spec settings the gateway and the controller share (gateway.* and controller.* values of
// the same names): priority class, image pull secrets, and the pod's seccomp profile.
import type { PodSettings } from '../profile/schema.js';

/**
 * The pod-spec fields for these values, `securityContext` merged with the pod's own (the pinned
 * proxy's sysctls). Values an install record written before they existed lacks render as before.
 */
export function podSettings(v: Partial<PodSettings>, securityContext: Record<string, unknown> = {}): Record<string, unknown> {
  const sc = { ...securityContext, ...(v.seccompProfile === 'RuntimeDefault' ? { seccompProfile: { type: 'RuntimeDefault' } } : {}) };
  return {
    ...(v.priorityClassName ? { priorityClassName: v.priorityClassName } : {}),
    ...(v.imagePullSecrets?.length ? { imagePullSecrets: v.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(Object.keys(sc).length ? { securityContext: sc } : {}),
  };
}
