/**
 * The ports the provisioner uses are declared once, in packages: the cloud provider port
 * (@inno-train/cloud-port, implemented by the Lambda client and the local provider) and the host
 * executor (@inno-train/host-port, implemented by the SSH and local executors). Unit tests hand in
 * small fakes of the same interfaces.
 *
 * The names below are the provisioner's older names for them, kept as aliases for its modules and
 * for importers of '@inno-train/provisioner'; new code imports the ports' own names.
 */
import type { CloudInstance, CloudInstanceTypeEntry, CloudProvider } from '@inno-train/cloud-port';
import type { HostExecutor } from '@inno-train/host-port';

export { ATTEMPT_TAG, instanceName, JOB_TAG, jobIdOfInstance, LAUNCHED_AT_TAG, NAMESPACE_TAG } from '@inno-train/cloud-port';

/** @deprecated The cloud provider port: `CloudProvider` from @inno-train/cloud-port. */
export type LambdaApi = CloudProvider;
/** @deprecated `CloudInstance` from @inno-train/cloud-port. */
export type LambdaInstance = CloudInstance;
/** @deprecated `CloudInstanceTypeEntry` from @inno-train/cloud-port. */
export type LambdaInstanceTypeEntry = CloudInstanceTypeEntry;
/** @deprecated The host executor port: `HostExecutor` from @inno-train/host-port. */
export type HostShell = HostExecutor;
