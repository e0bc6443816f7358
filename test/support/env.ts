/** Where the test servers are; every value can be overridden from the environment. */
export const testPostgresAdminUrl = process.env.SHIPTRACK_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const testRedisUrl = process.env.SHIPTRACK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';
export const testMongoUrl = process.env.SHIPTRACK_TEST_MONGO_URL || undefined;
/** A Citus coordinator with workers added, whose database the Citus tests may use. */
export const testCitusUrl = process.env.SHIPTRACK_TEST_CITUS_URL || undefined;
/** In CI a missing PostgreSQL or Redis fails the run instead of skipping tests. */
export const servicesRequired = process.env.CI === 'true' || process.env.SHIPTRACK_TEST_REQUIRE_SERVICES === '1';
