/** An error the simulator answers with the spec's envelope: `{error: {code, message, suggestion?}}`. */
export class SimApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly suggestion?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'SimApiError';
  }

  body(): { error: { code: string; message: string; suggestion?: string } } {
    const error: { code: string; message: string; suggestion?: string } = { code: this.code, message: this.message };
    if (this.suggestion !== undefined) error.suggestion = this.suggestion;
    return { error };
  }
}

export const invalidParameters = (message: string): SimApiError =>
  new SimApiError(400, 'global/invalid-parameters', message, 'Check the request body against the API reference.');

export const instanceNotFound = (): SimApiError =>
  new SimApiError(404, 'global/object-does-not-exist', 'Specified instance does not exist.');

export const invalidApiKey = (): SimApiError =>
  new SimApiError(
    401,
    'global/invalid-api-key',
    'API key was invalid, expired, or deleted.',
    'Check your API key or create a new one, then try again.',
  );
