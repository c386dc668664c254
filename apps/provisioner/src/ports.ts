/**
 * The ports the provisioner uses are declared once, in packages: the cloud provider port
 * (@inno-train/cloud-port, implemented by the Lambda client and the local provider) and the host
 * executor (@inno-train/host-port, implemented by the SSH and local executors). Unit tests hand in
 * small fakes of the same interfaces. The instance tags are re-exported for the provisioner's importers.
 */

export { ATTEMPT_TAG, instanceName, JOB_TAG, jobIdOfInstance, LAUNCHED_AT_TAG, NAMESPACE_TAG } from '@inno-train/cloud-port';
