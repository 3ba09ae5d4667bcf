import { z } from 'zod';
import { DEFAULT_SOCKET_PATH } from '@borealis/push-client';

/**
 * The push daemon's configuration file (JSON), validated once at start; command-line flags
 * override `server`, `stateDir`, `socket` and `ca`. docs/device.md describes every field.
 */
export const DaemonConfig = z.strictObject({
  /** The transport(s): tcp://, tls://, ws://HOST:PORT/device, wss://. */
  server: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Credentials, registrations and held pushes (owner-only files). */
  stateDir: z.string().min(1),
  /** A PEM file of extra trusted CAs for tls:// and wss://. */
  ca: z.string().min(1).optional(),
  socket: z.string().min(1).default(DEFAULT_SOCKET_PATH),
  /** Octal permissions of the socket: "0666" (every local user) or "0660" with socketGroupId. */
  socketMode: z.string().regex(/^0?[0-7]{3}$/, 'an octal mode such as "0666"').default('0666'),
  socketGroupId: z.number().int().nonnegative().optional(),
  /** clientInactive after this many seconds without a push or a request. */
  inactivityTimeoutSeconds: z.number().positive().max(86_400).default(30),
  maxConnectionsPerUser: z.number().int().positive().max(10_000).default(32),
  maxConnections: z.number().int().positive().max(100_000).default(1024),
  /** How often the daemon looks for deleted OS users (their registrations are removed). */
  userCheckIntervalSeconds: z.number().positive().max(86_400).default(60),
  /** Launched apps' output; discarded when absent. */
  launchLogFile: z.string().min(1).optional(),
  /**
   * Installed apps (the launcher's registry): a push for one that is not connected starts it as
   * its user. An applicationId listed here may be used only by the users it is listed for.
   */
  apps: z
    .array(
      z.strictObject({
        applicationId: z.string().regex(/^[\x21-\x7e]{1,128}$/, '1 to 128 printable ASCII characters without spaces'),
        user: z.string().min(1).max(254),
        command: z.array(z.string().min(1)).min(1),
      }),
    )
    .default([]),
});
export type DaemonConfig = z.infer<typeof DaemonConfig>;

/** Validates a configuration; the error names each offending field. */
export function parseDaemonConfig(value: unknown): DaemonConfig {
  const parsed = DaemonConfig.safeParse(value);
  if (!parsed.success) {
    throw new Error(`invalid push daemon configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}
