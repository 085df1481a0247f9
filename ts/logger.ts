/**
 * PLACEHOLDER — owned by the configuration/logging work. Contract: namespaced module loggers, silent by
 * default, enabled per namespace through AWS_ADVANCED_TS_WRAPPER_LOG (e.g. `failover,host-monitoring` or `*`),
 * and a pluggable sink (console- or pino-shaped) via setLogger(). Never pass secrets to a logger.
 */
export interface Logger {
  debug(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function getLogger(_namespace: string): Logger {
  return silent;
}
