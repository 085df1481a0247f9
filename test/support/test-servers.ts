// Connection settings of the PostgreSQL and MariaDB servers test/run.mjs starts for the test files (TEST_PG_* /
// TEST_MYSQL_* in the environment). Frozen: a test that needs other settings spreads them into a new object.

export const PG = Object.freeze({
  host: process.env.TEST_PG_HOST!,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER!,
  password: process.env.TEST_PG_PASSWORD!,
  database: process.env.TEST_PG_DATABASE!,
});

export const MY = Object.freeze({
  host: process.env.TEST_MYSQL_HOST!,
  port: Number(process.env.TEST_MYSQL_PORT),
  user: process.env.TEST_MYSQL_USER!,
  password: process.env.TEST_MYSQL_PASSWORD!,
  database: process.env.TEST_MYSQL_DATABASE!,
});
