// The one shape of a Kubernetes object in acmg: rendered, applied, read back. Open-ended, because
// the API server's objects are; code that needs a field reads it where it knows the kind.
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  [k: string]: unknown;
}

export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: any;
}
