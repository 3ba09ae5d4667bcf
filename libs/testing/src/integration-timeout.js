// Integration tests talk to real services, generate RSA keys and run scrypt; on a busy 2-core
// machine a hook that closes a Nest app with Kafka consumers (leaving their groups while a fresh
// broker's coordinator is still loading) can take longer than Jest's default 5 s. A per-project
// `testTimeout` is not applied by Jest to tests and hooks (it is a global option), so the default
// is raised here, for the integration project only; a test that needs more still says so.
jest.setTimeout(20_000);
