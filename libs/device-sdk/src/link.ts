import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { WebSocket } from 'ws';
import { DeviceErrorCode, FrameError, FrameSplitter, decodeFrame, encodeFrame, encodeFramePrefixed, type Frame, type FrameInit } from '@borealis/contracts';

/** How the daemon reaches a transport: `tcp://host:port`, `tls://host:port`, `ws://host:port/device`, `wss://host:port/device`. */
export type ServerUrl = string;

export interface LinkOptions {
  /** Local source address (load tests spread connections over several loopback addresses). */
  localAddress?: string;
  /** TLS (tls:// and wss://): extra trusted CA certificates (PEM), and the server name to verify. */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
}

export interface LinkHandlers {
  open(): void;
  /** The frames of one read, in order (a batch lets the daemon hand an app its pushes together). */
  frames(frames: Frame[]): void;
  /** The link is gone (after an error or a close from either side); called once. */
  closed(reason: Error): void;
}

/** One connection to a transport, whatever the wire: frames in, frames out. */
export interface Link {
  send(frame: FrameInit): void;
  readonly writable: boolean;
  /** Closes after the frames already sent are flushed. */
  end(): void;
  destroy(): void;
}

export function parseServerUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`server must be a URL like tcp://host:port, got ${server}`);
  }
  if (!['tcp:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname || (!url.port && (url.protocol === 'tcp:' || url.protocol === 'tls:'))) {
    throw new Error(`server must be tcp://host:port, tls://host:port, ws://host:port/device or wss://host:port/device, got ${server}`);
  }
  return url;
}

export function openLink(url: URL, options: LinkOptions, handlers: LinkHandlers): Link {
  return url.protocol === 'ws:' || url.protocol === 'wss:' ? new WebSocketLink(url, options, handlers) : new StreamLink(url, options, handlers);
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

class StreamLink implements Link {
  private readonly socket: Socket;
  private readonly splitter = new FrameSplitter();
  private done = false;

  constructor(url: URL, options: LinkOptions, private readonly handlers: LinkHandlers) {
    // URL keeps the brackets of an IPv6 literal; net.connect wants the bare address.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port);
    if (url.protocol === 'tls:') {
      // TLS over a TCP socket of our own: tls.connect has no localAddress.
      const servername = options.tls?.servername ?? (isIp(host) ? undefined : host);
      this.socket = connectTls({
        socket: connectTcp({ host, port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }),
        ...(servername ? { servername } : {}),
        ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
        rejectUnauthorized: options.tls?.rejectUnauthorized ?? true,
      });
      this.socket.once('secureConnect', () => handlers.open());
    } else {
      this.socket = connectTcp({ host, port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
      this.socket.once('connect', () => handlers.open());
    }
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.finish(err));
    this.socket.on('close', () => this.finish(new Error('connection closed by the server')));
  }

  get writable(): boolean {
    return this.socket.writable;
  }

  send(frame: FrameInit): void {
    if (this.socket.writable) this.socket.write(encodeFramePrefixed(frame));
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    const frames: Frame[] = [];
    let failure: Error | null = null;
    try {
      for (const body of this.splitter.push(chunk)) frames.push(decodeFrame(body));
    } catch (err) {
      failure = err instanceof FrameError ? err : new FrameError(DeviceErrorCode.INTERNAL, (err as Error).message);
    }
    // The frames before a bad one still count (their notifications are acknowledged on the next connection).
    if (frames.length > 0) this.handlers.frames(frames);
    if (failure) {
      this.finish(failure);
      this.socket.destroy();
    }
  }

  private finish(reason: Error): void {
    if (this.done) return;
    this.done = true;
    this.handlers.closed(reason);
  }
}

class WebSocketLink implements Link {
  private readonly socket: WebSocket;
  private done = false;

  constructor(url: URL, options: LinkOptions, private readonly handlers: LinkHandlers) {
    this.socket = new WebSocket(url, {
      perMessageDeflate: false,
      rejectUnauthorized: options.tls?.rejectUnauthorized ?? true,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
      ...(options.tls?.servername ? { servername: options.tls.servername } : {}),
    });
    this.socket.binaryType = 'nodebuffer';
    this.socket.once('open', () => handlers.open());
    this.socket.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    this.socket.on('error', (err) => this.finish(err));
    this.socket.on('close', () => this.finish(new Error('connection closed by the server')));
  }

  get writable(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: FrameInit): void {
    if (this.writable) this.socket.send(encodeFrame(frame), { binary: true });
  }

  end(): void {
    if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    else this.socket.close(1000);
  }

  destroy(): void {
    this.socket.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.done) return;
    try {
      if (!isBinary) throw new FrameError(DeviceErrorCode.MALFORMED_FRAME, 'text message from the server');
      this.handlers.frames([decodeFrame(data)]);
    } catch (err) {
      this.finish(err instanceof FrameError ? err : new FrameError(DeviceErrorCode.INTERNAL, (err as Error).message));
      this.socket.terminate();
    }
  }

  private finish(reason: Error): void {
    if (this.done) return;
    this.done = true;
    this.handlers.closed(reason);
  }
}
