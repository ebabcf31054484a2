// Placeholder until the cluster harness lands: e2e tests start the local control plane here.
export default async function globalSetup(): Promise<void> {}
