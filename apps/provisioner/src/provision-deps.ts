import type { SshIdentity, WorkflowDeps } from '@inno-train/workflow';
import type { WorkflowTimings } from '@inno-train/workflow-constants';
import type { CloudProvider } from '@inno-train/cloud-port';
import type { HostExecutor } from '@inno-train/host-port';
import type { CloudView } from './cloud-view';

/** What provisioning needs; launch, retire and the provision step all take it. */
export interface ProvisionDeps extends WorkflowDeps {
  lambda: CloudProvider;
  /** Reads of the account's instances, shared across jobs and replicas (cloud-view.ts). */
  cloud: CloudView;
  shell: HostExecutor;
  identity: SshIdentity;
  sshKeyName: string;
  timings: WorkflowTimings;
  /** Tagged on every instance, so the reconciler only ever touches this installation's. */
  namespace: string;
}
