/** What util.inspect / JSON.stringify show of a client's or pool's config: where it connects, never a secret. */
export function safeConfigView(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['host', 'port', 'user', 'database', 'socketPath', 'plugins'] as const) {
    if (config[key] !== undefined) out[key] = config[key];
  }
  // A URI may carry the password (user info) and other secrets (query): only where it points is shown.
  if (typeof config.uri === 'string') {
    try {
      const url = new URL(config.uri);
      out.uri = `${url.protocol}//${url.host}${url.pathname}`;
    } catch {
      out.uri = '(not a valid URL)';
    }
  }
  return out;
}
