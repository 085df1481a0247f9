/**
 * Errors raised by the wrapper itself. Driver errors are never wrapped: they reach the user unchanged.
 * Failover errors carry the driver error that triggered failover as `cause` and a stable SQLSTATE-like `code`
 * (the JDBC wrapper's values), so applications can branch on `err.code` without instanceof checks.
 */
export class AwsWrapperError extends Error {
  code: string | undefined;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = options?.code;
  }
}

/** A dialect, selector or driver cannot do what was asked. */
export class UnsupportedOperationError extends AwsWrapperError {}

/** socketTimeout or an auxiliary-query timeout elapsed; the statement was cancelled. */
export class QueryTimeoutError extends AwsWrapperError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'HYT00' });
  }
}

/** A configuration value is wrong; the message names the key and what was expected. */
export class ConfigurationError extends AwsWrapperError {
  readonly key: string | undefined;
  constructor(message: string, key?: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'WRAPPER_CONFIG' });
    this.key = key;
  }
}

/** Base of the three errors failover raises. */
export class FailoverError extends AwsWrapperError {}

/** Failover succeeded outside a transaction: the connection is usable; re-run the statement and re-apply session state not tracked by the wrapper. */
export class FailoverSuccessError extends FailoverError {
  constructor(
    message = 'The active connection has changed due to a connection failure. Please re-configure session state if required.',
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, code: '08S02' });
  }
}

/** Failover succeeded while a transaction was open: the transaction's outcome is unknown; restart it. */
export class TransactionResolutionUnknownError extends FailoverError {
  constructor(
    message = 'Transaction resolution unknown. Please re-configure session state if required and try restarting the transaction.',
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, code: '08007' });
  }
}

/** Failover could not reach a suitable instance within failoverTimeoutMs: the connection is unusable. */
export class FailoverFailedError extends FailoverError {
  constructor(
    message = 'Unable to establish a connection to a suitable instance within the failover timeout.',
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, code: '08001' });
  }
}

/**
 * The wrapper closed a connection because its host failed (a failover starts): calls still queued on it reject with
 * this (08S01, a network error, so they join the failover). It is never emitted as the client's 'error' event: the
 * driver's own error for the lost connection is.
 */
export class ConnectionAbortedError extends AwsWrapperError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: '08S01' });
  }
}

/**
 * limitless: no transaction router of the shard group could be read (code WRAPPER_LIMITLESS_NO_ROUTERS), or every
 * router attempt failed (WRAPPER_LIMITLESS_MAX_RETRIES, the last driver error as `cause`).
 */
export class LimitlessRoutersError extends AwsWrapperError {}
