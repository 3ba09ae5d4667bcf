// A real Apache Kafka broker for the tests, CI and benchmarks: one combined broker/controller in
// KRaft mode, run from the jars Maven resolves from tools/kafka/pom.xml (no container, no install
// step). Used by the Jest global setup, by tests that need a broker of their own (to kill or
// restart it), by the benchmarks and by `npm run kafka` (tools/kafka.mjs).
//
// Listeners, all on 127.0.0.1:
// - PLAINTEXT: what the suite and the benchmarks use;
// - SASL_SSL: TLS (a test CA made at first start) with SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512;
// - SSL: TLS that requires a client certificate signed by the same CA (mutual TLS).
// The CA, the certificates and the SASL credentials are generated per broker directory (0700,
// files 0600) and handed back to the caller; none of them is a fixed secret in the repository.
//
// CommonJS on purpose: the Jest global setup and `tools/kafka.mjs` load it without a transform.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const POM = path.join(REPO_ROOT, 'tools', 'kafka', 'pom.xml');
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

/** The Kafka version the pom names (one place to change it). */
function kafkaVersion() {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(fs.readFileSync(POM, 'utf8'));
  if (!m) throw new Error(`${POM} names no <kafka.version>`);
  return m[1].trim();
}

/** The git-ignored folder the broker's jars are copied to (BOREALIS_KAFKA_CACHE overrides it). */
function cacheDir() {
  return process.env.BOREALIS_KAFKA_CACHE || path.join(REPO_ROOT, '.cache', `kafka-${kafkaVersion()}`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, ...options });
  if (result.error) {
    const hint = result.error.code === 'ENOENT' ? ` (${command} is not installed or not on PATH)` : '';
    throw new Error(`${command} ${args.join(' ')} failed to start: ${result.error.message}${hint}`);
  }
  return result;
}

function javaMajor() {
  const out = run('java', ['-version']);
  const text = `${out.stderr}${out.stdout}`;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) throw new Error(`cannot read the Java version from: ${text.trim()}`);
  return Number(m[1] === '1' ? m[2] : m[1]);
}

/**
 * Resolves the broker's jars into the cache and returns the folder. The first run asks Maven
 * (offline first: a fresh clone on a machine that fetched them before needs no network); later
 * runs find the folder complete and return at once.
 */
function ensureKafkaJars({ log = () => undefined } = {}) {
  const dir = cacheDir();
  const libs = path.join(dir, 'libs');
  const marker = path.join(dir, 'complete');
  if (fs.existsSync(marker)) {
    log(`Kafka ${kafkaVersion()}: jars cached in ${path.relative(REPO_ROOT, libs) || libs}`);
    return libs;
  }
  const java = javaMajor();
  if (java < 17) throw new Error(`Kafka ${kafkaVersion()} needs Java 17 or later; java -version says ${java}. Set JAVA_HOME or PATH to a JDK 17+`);
  fs.mkdirSync(dir, { recursive: true });
  const partial = fs.mkdtempSync(path.join(dir, 'libs.partial-'));
  const args = ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${partial}`, '-DincludeScope=runtime'];
  const started = Date.now();
  let result = run('mvn', ['-o', ...args]);
  let source = "offline, from Maven's local repository";
  if (result.status !== 0) {
    source = 'from Maven Central';
    log(`Kafka ${kafkaVersion()}: not in Maven's local repository yet, resolving it from Maven Central`);
    result = run('mvn', args);
  }
  if (result.status !== 0) {
    fs.rmSync(partial, { recursive: true, force: true });
    throw new Error(`mvn ${args.join(' ')} failed (exit ${result.status}):\n${`${result.stdout}${result.stderr}`.trim().slice(-3000)}`);
  }
  fs.rmSync(libs, { recursive: true, force: true });
  fs.renameSync(partial, libs);
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  log(`Kafka ${kafkaVersion()}: ${fs.readdirSync(libs).length} jars resolved ${source} into ${path.relative(REPO_ROOT, libs) || libs} (${Date.now() - started} ms)`);
  return libs;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function writePrivate(file, text) {
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** A test CA, a broker certificate for 127.0.0.1/localhost and a client certificate, via openssl. */
function makeTls(dir) {
  const tls = path.join(dir, 'tls');
  const files = {
    ca: path.join(tls, 'ca.pem'),
    brokerKeystore: path.join(tls, 'broker-keystore.pem'),
    clientCert: path.join(tls, 'client.pem'),
    clientKey: path.join(tls, 'client.key'),
  };
  if (Object.values(files).every((f) => fs.existsSync(f))) return files;
  fs.mkdirSync(tls, { recursive: true, mode: 0o700 });
  const openssl = (...args) => {
    const r = run('openssl', args, { cwd: tls });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr.trim()}`);
  };
  const days = '30';
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', days, '-subj', '/CN=Borealis test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name, subject, ext) => {
    fs.writeFileSync(path.join(tls, `${name}.ext`), ext);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', `${name}.ext`);
    // Kafka's PEM keystore wants PKCS#8.
    openssl('pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-out', `${name}.p8.key`);
  };
  leaf('broker', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', '/CN=borealis-test-client', 'extendedKeyUsage=clientAuth\n');
  writePrivate(files.brokerKeystore, fs.readFileSync(path.join(tls, 'broker.p8.key'), 'utf8') + fs.readFileSync(path.join(tls, 'broker.pem'), 'utf8'));
  fs.copyFileSync(path.join(tls, 'client.p8.key'), files.clientKey);
  for (const f of fs.readdirSync(tls)) fs.chmodSync(path.join(tls, f), 0o600);
  return files;
}

function credentials(dir) {
  const file = path.join(dir, 'credentials.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const secret = () => crypto.randomBytes(18).toString('base64url');
  const creds = {
    plain: { username: 'borealis-plain', password: secret() },
    scram: { username: 'borealis-scram', password: secret() },
  };
  writePrivate(file, JSON.stringify(creds, null, 2));
  return creds;
}

function serverProperties({ dir, ports, tls, creds, extra }) {
  const jaasPlain = `org.apache.kafka.common.security.plain.PlainLoginModule required user_${creds.plain.username}="${creds.plain.password}";`;
  const lines = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.bootstrap.servers': `127.0.0.1:${ports.controller}`,
    listeners: `PLAINTEXT://127.0.0.1:${ports.plaintext},SASL_SSL://127.0.0.1:${ports.saslSsl},SSL://127.0.0.1:${ports.ssl},CONTROLLER://127.0.0.1:${ports.controller}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${ports.plaintext},SASL_SSL://127.0.0.1:${ports.saslSsl},SSL://127.0.0.1:${ports.ssl}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT',
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    'listener.name.sasl_ssl.plain.sasl.jaas.config': jaasPlain,
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': tls.brokerKeystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': tls.ca,
    'listener.name.ssl.ssl.client.auth': 'required',
    'listener.name.sasl_ssl.ssl.client.auth': 'none',
    'log.dirs': path.join(dir, 'data'),
    // Production code creates its topics through the admin API; nothing may lean on auto-creation.
    'auto.create.topics.enable': 'false',
    'num.partitions': '1',
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '8',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '4',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    // Tests join and leave groups all the time: no 3 s wait for more members.
    'group.initial.rebalance.delay.ms': '0',
    'group.consumer.min.session.timeout.ms': '1000',
    'group.min.session.timeout.ms': '1000',
    'log.retention.hours': '24',
    ...extra,
  };
  return `${Object.entries(lines)
    .map(([k, v]) => `${k}=${String(v).replace(/\\/g, '\\\\')}`)
    .join('\n')}\n`;
}

function log4jProperties(dir) {
  return [
    'status = warn',
    'appender.file.type = File',
    'appender.file.name = file',
    `appender.file.fileName = ${path.join(dir, 'broker.log')}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.file.ref = file',
    'logger.kafka.name = kafka',
    'logger.kafka.level = INFO',
    'logger.state.name = state.change.logger',
    'logger.state.level = WARN',
    '',
  ].join('\n');
}

function tail(file, chars = 3000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-chars);
  } catch {
    return '(no broker log)';
  }
}

/** Sends ApiVersions v0 and resolves when the broker answers it; rejects on error or timeout. */
function answersApiVersions(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer'));
    }, timeoutMs);
    let got = Buffer.alloc(0);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      const clientId = Buffer.from('borealis-broker-probe');
      const header = Buffer.alloc(2 + 2 + 4 + 2);
      header.writeInt16BE(18, 0); // ApiVersions
      header.writeInt16BE(0, 2);
      header.writeInt32BE(1, 4);
      header.writeInt16BE(clientId.length, 8);
      const size = Buffer.alloc(4);
      size.writeInt32BE(header.length + clientId.length);
      socket.write(Buffer.concat([size, header, clientId]));
    });
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 10) {
        clearTimeout(timer);
        socket.destroy();
        const errorCode = got.readInt16BE(8);
        if (errorCode === 0) resolve();
        else reject(new Error(`ApiVersions error ${errorCode}`));
      }
    });
  });
}

/** Resolves when a Metadata request names the broker and the cluster has a controller. */
async function waitUntilReady(handle, child, exited) {
  const { Kafka, logLevel } = require('kafkajs');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'not started';
  while (Date.now() < deadline) {
    if (exited.done) throw new Error(`Kafka broker exited (${exited.why}) before it was ready; ${handle.log}:\n${tail(handle.log)}`);
    try {
      await answersApiVersions(handle.ports.plaintext, 1000);
      const kafka = new Kafka({ clientId: 'borealis-broker-probe', brokers: [handle.brokers], logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } });
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0) return;
        last = 'metadata names no controller yet';
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    } catch (err) {
      last = err && err.message ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Kafka broker not ready within ${READY_TIMEOUT_MS} ms (last: ${last}); ${handle.log}:\n${tail(handle.log)}`);
}

/**
 * Starts a broker and resolves once it answers Metadata. `dir` (default: a new temporary folder)
 * holds its data, configuration, log, TLS files and credentials; starting again on the same dir
 * restarts the same broker (same ports, data and credentials). The broker dies with the calling
 * process, even on SIGKILL: a small `sh` watchdog kills it when its stdin pipe closes.
 *
 * @param {{ dir?: string, heapMb?: number, serverProperties?: Record<string, string>, log?: (line: string) => void }} [options]
 */
async function startKafkaBroker(options = {}) {
  const log = options.log || (() => undefined);
  const dir = options.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'borealis-kafka-'));
  for (let attempt = 1; ; attempt++) {
    const firstStart = !fs.existsSync(path.join(dir, 'ports.json'));
    try {
      return await startOnce({ ...options, dir });
    } catch (err) {
      // Ports are chosen free, then bound by the JVM seconds later: any process (an outgoing
      // connection's ephemeral port included) may take one meanwhile. A first start tries again
      // on new ports, with storage formatted anew; a restart must keep its ports and data.
      const logText = fs.existsSync(path.join(dir, 'broker.log')) ? fs.readFileSync(path.join(dir, 'broker.log'), 'utf8') : '';
      if (!firstStart || attempt >= 3 || !/Address already in use/.test(logText)) throw err;
      log(`Kafka broker: a port was taken before the broker bound it; trying again on other ports (attempt ${attempt + 1})`);
      for (const name of ['ports.json', 'data', 'broker.log', 'broker.out']) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

async function startOnce(options) {
  const log = options.log || (() => undefined);
  const libs = ensureKafkaJars({ log });
  const dir = options.dir;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const portsFile = path.join(dir, 'ports.json');
  let ports;
  if (fs.existsSync(portsFile)) {
    ports = JSON.parse(fs.readFileSync(portsFile, 'utf8'));
  } else {
    ports = { plaintext: await freePort(), saslSsl: await freePort(), ssl: await freePort(), controller: await freePort() };
    fs.writeFileSync(portsFile, JSON.stringify(ports));
  }
  const tls = makeTls(dir);
  const creds = credentials(dir);
  const propsFile = path.join(dir, 'server.properties');
  writePrivate(propsFile, serverProperties({ dir, ports, tls, creds, extra: options.serverProperties || {} }));
  const log4j = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(log4j, log4jProperties(dir));
  const classpath = `${libs}/*`;
  const javaOpts = [`-Dlog4j2.configurationFile=${log4j}`, '-Djava.awt.headless=true'];

  if (!fs.existsSync(path.join(dir, 'data', 'meta.properties'))) {
    // Base64url may begin with '-', which the storage tool's argument parser takes for an option
    // (about one start in 64 failed); Kafka's own random ids avoid it the same way.
    let clusterId;
    do clusterId = crypto.randomBytes(16).toString('base64url').slice(0, 22);
    while (clusterId.startsWith('-'));
    const format = run('java', [
      ...javaOpts,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      propsFile,
      '--standalone',
      '--add-scram',
      `SCRAM-SHA-256=[name=${creds.scram.username},password=${creds.scram.password}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=${creds.scram.username},password=${creds.scram.password}]`,
    ]);
    if (format.status !== 0) throw new Error(`kafka.tools.StorageTool format failed (exit ${format.status}): ${`${format.stdout}${format.stderr}`.trim().slice(-2000)}`);
  }

  const heapMb = options.heapMb || 512;
  const javaArgs = [`-Xmx${heapMb}m`, `-Xms${Math.min(heapMb, 256)}m`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', ...javaOpts, '-cp', classpath, 'kafka.Kafka', propsFile];
  // The watchdog: java runs in the background; when this process's pipe to the watchdog's stdin
  // closes (this process ended, however), the watchdog stops the broker. It prints java's pid.
  // (A background job's stdin is /dev/null in sh unless redirected: hence fd 3.)
  const script = 'exec 3<&0\njava "$@" >>"$BROKER_OUT" 2>&1 </dev/null & j=$!\necho "$j"\n( cat <&3 >/dev/null; kill "$j" 2>/dev/null ) &\nexec 3<&-\nwait "$j"\n';
  const out = path.join(dir, 'broker.out');
  const started = Date.now();
  const child = spawn('sh', ['-c', script, 'kafka-broker', ...javaArgs], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BROKER_OUT: out },
  });
  const exited = { done: false, why: '' };
  const exitPromise = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited.done = true;
      exited.why = signal || `exit ${code}`;
      child.stdin.destroy();
      resolve();
    }),
  );
  const javaPid = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = /^(\d+)\n/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once('error', reject);
    child.once('exit', () => reject(new Error(`the broker's watchdog exited early: ${tail(out)}`)));
  });

  const handle = {
    version: kafkaVersion(),
    dir,
    ports,
    pid: javaPid,
    log: path.join(dir, 'broker.log'),
    brokers: `127.0.0.1:${ports.plaintext}`,
    saslSsl: { brokers: `127.0.0.1:${ports.saslSsl}`, ca: tls.ca, plain: creds.plain, scram: creds.scram },
    ssl: { brokers: `127.0.0.1:${ports.ssl}`, ca: tls.ca, cert: tls.clientCert, key: tls.clientKey },
    /** Whether the broker process is still running. */
    get running() {
      return !exited.done;
    },
    /** Resolves when the broker process has exited. */
    exited: exitPromise,
    /** SIGTERM (a clean shutdown), SIGKILL after STOP_TIMEOUT_MS; resolves once it exited. */
    async stop() {
      if (exited.done) return;
      try {
        process.kill(javaPid, 'SIGTERM');
      } catch {
        /* gone already */
      }
      const timer = setTimeout(() => handle.kill(), STOP_TIMEOUT_MS);
      await exitPromise;
      clearTimeout(timer);
    },
    /** SIGKILL: the broker dies at once, as in a crash. Resolves once it exited. */
    async kill() {
      if (exited.done) return;
      try {
        process.kill(javaPid, 'SIGKILL');
      } catch {
        /* gone already */
      }
      await exitPromise;
    },
    /** Keeps neither the child nor its pipes from letting this process exit. */
    unref() {
      child.unref();
      child.stdin.unref?.();
      child.stdout.unref?.();
    },
  };
  try {
    await waitUntilReady(handle, child, exited);
  } catch (err) {
    await handle.kill();
    throw err;
  }
  log(`Kafka ${handle.version} broker (pid ${javaPid}) at ${handle.brokers} (SASL_SSL ${handle.saslSsl.brokers}, SSL ${handle.ssl.brokers}), ready in ${Date.now() - started} ms; log ${handle.log}`);
  return handle;
}

module.exports = { ensureKafkaJars, startKafkaBroker, kafkaVersion, cacheDir };
