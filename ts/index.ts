export * from './errors.js';
export { HostInfo, HostRole, HostAvailability, HostChange } from './host-info.js';
export { WrapperServices } from './services.js';
export { AwsMySQLClient } from './clients/mysql-client.js';
export { AwsPGClient } from './clients/pg-client.js';
