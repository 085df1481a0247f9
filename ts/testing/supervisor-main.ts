/**
 * Entry point of the lookalike cluster's supervisor process (spawned detached by LocalCluster.start / `cluster
 * up`). It receives its options over the IPC channel, answers 'ready' or 'error', and then lives on its own
 * until `down`, a signal, or the exit of its owner process.
 */
import { Supervisor, type SupervisorOptions } from './supervisor.js';

interface StartMessage {
  readonly type: 'start';
  readonly options: SupervisorOptions;
}

const supervisor = new Supervisor();

function shutdown(signal: string): void {
  supervisor.log(`received ${signal}`);
  void supervisor.down(true).finally(() => process.exit(0));
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
process.on('uncaughtException', (err) => {
  supervisor.log(`uncaught exception: ${err.stack ?? err.message}`);
  void supervisor.down(true).finally(() => process.exit(1));
});

process.once('message', (msg: StartMessage) => {
  if (msg?.type !== 'start') return;
  supervisor.start(msg.options).then(
    (state) => {
      process.send?.({ type: 'ready', state });
      process.disconnect?.();
    },
    (err: Error) => {
      process.send?.({ type: 'error', message: err.message }, () => process.exit(1));
    },
  );
});
