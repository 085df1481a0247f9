// A plugin (code 'bg_test_recorder', innermost) that records where each connection was sent: the host name, the
// address hostAddressMap gives the socket, and the name an IAM token is signed for.
import type { ConnectionPlugin, PluginFactory } from '../../ts/plugin.js';

export interface SentConnection {
  host: string;
  to: string | undefined;
  iamHost?: string;
}

export function connectRecorder(sent: SentConnection[]): PluginFactory {
  return {
    code: 'bg_test_recorder',
    weight: 900,
    create: <C>(): ConnectionPlugin<C> => ({
      code: 'bg_test_recorder',
      subscribedMethods: new Set(['connect', 'forceConnect']),
      connect: async (host, props, _initial, next) => {
        const iamHost = props.options.iamHost;
        sent.push({
          host: host.host,
          to: props.options.hostAddressMap?.[`${host.host}:${host.port}`],
          ...(iamHost !== undefined ? { iamHost } : {}),
        });
        return next(props);
      },
    }),
  };
}
