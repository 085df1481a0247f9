export * from './errors.js';
export { HostInfo, HostRole, HostAvailability, HostChange } from './host-info.js';
export { WrapperServices } from './services.js';
