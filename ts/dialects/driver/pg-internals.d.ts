// pg's own resolution of a client config (connection string, PG* environment variables, pg.defaults), which
// @types/pg does not declare. Used so the wrapper sees the host, port, user and database pg itself would use.
declare module 'pg/lib/connection-parameters.js' {
  class ConnectionParameters {
    constructor(config?: string | Record<string, unknown>);
    readonly user: string | undefined;
    readonly database: string | undefined;
    readonly port: number;
    readonly host: string;
    readonly binary: boolean | undefined;
    readonly ssl: unknown;
  }
  export = ConnectionParameters;
}
