// Errors every layer may throw and the driver maps to exit codes.

/** A mistake on the command line or in API options (exit code 2), not in the model. */
export class UsageError extends Error {}
