/**
 * PLACEHOLDER — owned by the configuration work: to be replaced by the single options table and the parser.
 * Names and types below are the contract other modules code against; the table-derived type must keep them.
 * Durations without a unit in their name are milliseconds (Node convention); the seed's snake_case aliases keep
 * the seed's unit (seconds for connect_timeout, socket_timeout, tcp_keepalive_time/_interval) and are converted.
 */
export interface WrapperOptions {
  /** Plugin codes in the user's order; undefined = the default list. */
  plugins: readonly string[] | undefined;
  autoSortWrapperPluginOrder: boolean;
  profileName: string | undefined;
  wrapperDialect: string | undefined;
  wrapperDriverDialect: string | undefined;
  auxiliaryQueryTimeoutSec: number;
  topologyRefreshMs: number;
  clusterTopologyHighRefreshRateMs: number;
  clusterId: string | undefined;
  clusterInstanceHostPattern: string | undefined;
  transferSessionStateOnSwitch: boolean;
  resetSessionStateOnClose: boolean;
  rollbackOnSwitch: boolean;
  connectTimeout: number | undefined;
  socketTimeout: number | undefined;
  tcpKeepalive: boolean | undefined;
  tcpKeepaliveTime: number | undefined;
  tcpKeepaliveInterval: number | undefined;
  tcpKeepaliveProbes: number | undefined;
  /** host or host:port → address or address:port; applied to every connection the wrapper opens, native probes too. */
  hostAddressMap: Readonly<Record<string, string>> | undefined;
  /** Plugin-specific options by camelCase name (failoverTimeoutMs, …), added to the table by each plugin. */
  readonly [pluginOption: string]: unknown;
}

import type { ConnectProps } from './plugin.js';

/**
 * Splits a user's config (driver config + wrapper options, camelCase or seed snake_case, pg `connectionString` or
 * mysql2 `uri` with wrapper options as query parameters) into the driver config and typed wrapper options.
 * Throws ConfigurationError naming the key and what was expected. PLACEHOLDER implementation.
 */
export function parseConnectProps(driver: 'pg' | 'mysql2', config: Readonly<Record<string, unknown>>): ConnectProps {
  void driver;
  const options: WrapperOptions = {
    plugins: undefined,
    autoSortWrapperPluginOrder: true,
    profileName: undefined,
    wrapperDialect: undefined,
    wrapperDriverDialect: undefined,
    auxiliaryQueryTimeoutSec: 5,
    topologyRefreshMs: 30000,
    clusterTopologyHighRefreshRateMs: 100,
    clusterId: undefined,
    clusterInstanceHostPattern: undefined,
    transferSessionStateOnSwitch: true,
    resetSessionStateOnClose: true,
    rollbackOnSwitch: true,
    connectTimeout: undefined,
    socketTimeout: undefined,
    tcpKeepalive: undefined,
    tcpKeepaliveTime: undefined,
    tcpKeepaliveInterval: undefined,
    tcpKeepaliveProbes: undefined,
    hostAddressMap: undefined,
  };
  return { driver: { ...config }, options };
}
