import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, requireKafka, requirePostgres, requireRedis } from '@borealis/testing';

jest.setTimeout(240_000);

interface Run {
  mode: string;
  offered: number;
  sent: number;
  accepted: number;
  deliveries: number;
  dbDelivered: number;
  lost: number;
  duplicates: number;
  misrouted: number;
  p99: number;
  processes: { name: string; cpuSeconds: number; peakRssMb: number }[];
}

/**
 * The end-to-end benchmark at its smoke size (`npm run bench -- e2e --smoke`), in both modes, so
 * that it keeps working: the whole path from the HTTP API with a real token to simulated devices
 * and back to the Push DB. Its timings are printed, never asserted; what is asserted is what the
 * benchmark itself counts: every push accepted, received once by its app, counted as delivered.
 */
describe('npm run bench -- e2e --smoke', () => {
  it('sends through both modes and loses or duplicates nothing', async () => {
    const env = { ...process.env, KAFKA_BROKERS: requireKafka(), TEST_DATABASE_URL: requirePostgres(), TEST_REDIS_URL: requireRedis() };
    const child = spawn(process.execPath, [join(REPO_ROOT, 'tools', 'bench.mjs'), 'e2e', '--smoke', '--mode', 'both', '--json'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the benchmark exited ${code}:\n${stderr.slice(-4000)}`);

    const line = stdout.split('\n').find((l) => l.startsWith('{"event":"results"'));
    expect(line).toBeDefined();
    const runs = (JSON.parse(line!) as { results: Run[] }).results;
    expect(runs.map((r) => r.mode)).toEqual(['standalone', 'distributed']);
    for (const run of runs) {
      expect(run.sent).toBe(run.offered * 2);
      expect(run).toMatchObject({ accepted: run.sent, deliveries: run.sent, dbDelivered: run.sent, lost: 0, duplicates: 0, misrouted: 0 });
      expect(Number.isFinite(run.p99)).toBe(true);
      // CPU and memory were measured for the servers (names differ by mode).
      expect(run.processes.filter((p) => p.peakRssMb > 0).length).toBeGreaterThanOrEqual(3);
    }
    // The table for people.
    expect(stdout).toContain('| mode | devices | regs/app | offered/s | accepted/s | delivered/s | p50 ms |');
  });
});
