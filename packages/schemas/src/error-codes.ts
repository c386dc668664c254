// The closed set of job error codes is declared in the workflow catalog; clients get it from here too.
export { isJobErrorCode, JOB_ERROR_CODES, jobErrorCodeSchema, type JobErrorCode } from '@inno-train/workflow-constants';
