/**
 * Timeouts and poll intervals of every stage, in milliseconds. One function holds the defaults so
 * apps and tests override them in one place.
 */
export interface WorkflowTimings {
  /** How often provisioning re-reads a booting instance. */
  bootPollMs: number;
  /** Give up on a 1-to-4-GPU instance that is not ready (active, SSH, GPU check) after this long. */
  bootDeadlineMs: number;
  /** The same for 8-GPU instances, which take 10-25 minutes to boot. */
  bootDeadlineMultiGpuMs: number;
  /** How often to look again for capacity (or quota) while a job may wait for it. */
  capacityPollMs: number;
  /** How often a job waiting for one of its tenant's concurrency slots looks again (ended jobs also wake it at once). */
  slotPollMs: number;
  /** Launches (the first and relaunches after a bad boot) one job may use. */
  maxLaunchAttempts: number;
  /**
   * The longest one launch call may take, pacing wait and retries included. Teardown does not call
   * a job settled while a launch is in flight, but a marker older than this is from a worker that
   * died mid-launch: teardown looks for its instance once more and settles.
   */
  launchInFlightMaxMs: number;
  /**
   * The longest one check of a running transfer waits on the host for its end (it answers the moment
   * the transfer ends, so this is not a delay: it bounds how long one check holds a worker slot).
   */
  transferPollMs: number;
  /** Give up on a transfer after this long. */
  transferDeadlineMs: number;
  /** How often training is polled. */
  trainPollMs: number;
  /** Teardown: re-read interval while waiting for `terminated`. */
  terminatePollMs: number;
  /** Teardown: give up confirming termination (and alert) after this long. */
  terminateDeadlineMs: number;
  /** Timeout of one SSH command. */
  sshCommandTimeoutMs: number;
  /** Grace between SIGTERM and SIGKILL when stopping training. */
  killGraceMs: number;
  /** A host that does not answer is tolerated this long (any stage on it) before the job fails with host_lost. */
  unreachableGraceMs: number;
  /** How soon a stage looks again at a host that failed to answer (a dead one is called lost on the second refusal). */
  hostRecheckMs: number;
}

export function defaultTimings(): WorkflowTimings {
  return {
    bootPollMs: 10_000,
    bootDeadlineMs: 15 * 60_000,
    bootDeadlineMultiGpuMs: 35 * 60_000,
    capacityPollMs: 30_000,
    slotPollMs: 10_000,
    maxLaunchAttempts: 3,
    // One launch is up to 5 attempts of 15 s with backoff (about 1.5 min), each first waiting for an
    // account-wide launch slot (one per 12 s, 5 a minute): 2 min is too short when jobs launch together.
    launchInFlightMaxMs: 5 * 60_000,
    transferPollMs: 10_000,
    transferDeadlineMs: 6 * 3600_000,
    trainPollMs: 10_000,
    terminatePollMs: 5_000,
    terminateDeadlineMs: 10 * 60_000,
    // Host commands are short (start detached, poll, list); a dead connection ends them sooner still.
    sshCommandTimeoutMs: 30_000,
    killGraceMs: 10_000,
    unreachableGraceMs: 5 * 60_000,
    hostRecheckMs: 2_000,
  } satisfies WorkflowTimings;
}

/** Data movement settings. */
export const TRANSFER = {
  /**
   * Requests in flight at once for a whole stage-in or stage-out (TRANSFER_CONNECTIONS overrides it):
   * S3 serves ~85-90 MB/s per connection, so 64 fill ~5 GB/s, an 8-GPU host's share of its network.
   */
  connections: 64,
  /** The same for checkpoint uploads, which share the host's network with training. */
  checkpointConnections: 16,
  /** Checkpoint files and the training log above this go up in multipart parts of this size (S3's minimum part is 5 MiB). */
  partSizeBytes: 8 * 1024 * 1024,
  /** How much of the training log one poll pulls from the host. */
  logChunkBytes: 256 * 1024,
  /** The job's stored log keeps at most this much (the rest stays on the host / in outputs). */
  maxStoredLogBytes: 8 * 1024 * 1024,
} as const;

/**
 * Presigned URLs live as long as their stage may run, plus a little: a URL that outlives its
 * stage is a credential lying around on a host.
 */
export function presignLifetimeSeconds(timings: Pick<WorkflowTimings, 'transferDeadlineMs'>): number {
  return Math.ceil(timings.transferDeadlineMs / 1000) + 600;
}
