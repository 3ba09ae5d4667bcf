import { parseDaemonConfig } from './daemon-config';

describe('push daemon configuration', () => {
  it('fills in the defaults', () => {
    expect(parseDaemonConfig({ server: 'tcp://127.0.0.1:5228', stateDir: '/var/lib/borealis-push' })).toEqual({
      server: 'tcp://127.0.0.1:5228',
      stateDir: '/var/lib/borealis-push',
      socket: '/run/borealis-push/daemon.sock',
      socketMode: '0666',
      inactivityTimeoutSeconds: 30,
      maxConnectionsPerUser: 32,
      maxConnections: 1024,
      userCheckIntervalSeconds: 60,
      apps: [],
    });
  });

  it('names every offending field', () => {
    const bad = {
      server: [],
      stateDir: '/s',
      socketMode: '777x',
      maxConnectionsPerUser: 0,
      apps: [{ applicationId: 'has space', user: 'alice', command: [] }],
      colour: 'blue',
    };
    expect(() => parseDaemonConfig(bad)).toThrow(
      /invalid push daemon configuration: .*server.*socketMode: an octal mode such as "0666".*maxConnectionsPerUser.*apps\.0\.applicationId: 1 to 128 printable ASCII characters without spaces.*apps\.0\.command/,
    );
    expect(() => parseDaemonConfig(bad)).toThrow(/colour/);
  });
});
