// Per-service writes that do not depend on each other (routes, replacement Services, deleting
// originals, removing routes) run a few at a time; the helper lives with the API edge (kube/),
// which bounds its state shard writes the same way.
export { WRITE_CONCURRENCY, forEachBounded } from '../kube/bounded.js';
