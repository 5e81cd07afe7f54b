/**
 * A deliberately small HTTP/1.1 load client: one keep-alive socket per connection, one request at a
 * time on it, the request written as one buffer, and only the status line and Content-Length of the
 * answer read. On this 2-core machine the load generator shares the CPU with the server and the
 * broker; node's http.request costs about as much per request as the server under test does, which
 * made the benchmark measure the client. This one costs a fraction of that.
 *
 * Only for the benchmarks, against our own server: no chunked responses (fastify always sends a
 * Content-Length for the JSON it answers with), no redirects, no TLS.
 */
import net from 'node:net';

export interface RawRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export class RawHttpConnection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve(status: number): void; reject(err: Error): void } | null = null;
  private closed: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new RawHttpConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one request and resolves with the response's status code once its body has arrived. */
  request(request: RawRequest): Promise<number> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    const body = request.body ?? '';
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
    for (const [name, value] of Object.entries(request.headers)) head += `${name}: ${value}\r\n`;
    head += `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(head + body);
    });
  }

  /** True once the socket closed or failed (an idle keep-alive socket the server timed out). */
  get isClosed(): boolean {
    return this.closed !== null;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.fail(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`));
      return;
    }
    const total = end + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    this.buffer = this.buffer.subarray(total);
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve(status);
  }

  private fail(err: Error): void {
    this.closed ??= err;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(err);
  }
}

/**
 * Keep-alive connections to one server, like http.Agent: a request takes an idle connection or opens
 * a new one (up to `max`, then it waits for one to come back).
 */
export class RawHttpPool {
  private readonly idle: RawHttpConnection[] = [];
  private readonly queued: ((connection: RawHttpConnection) => void)[] = [];
  private open = 0;

  constructor(
    private readonly port: number,
    private readonly max = 256,
  ) {}

  async request(request: RawRequest): Promise<number> {
    const connection = await this.acquire();
    try {
      const status = await connection.request(request);
      this.release(connection);
      return status;
    } catch (err) {
      this.open--;
      connection.close();
      throw err;
    }
  }

  close(): void {
    for (const connection of this.idle.splice(0)) connection.close();
  }

  private async acquire(): Promise<RawHttpConnection> {
    for (let idle = this.idle.pop(); idle; idle = this.idle.pop()) {
      if (!idle.isClosed) return idle;
      this.open--;
    }
    if (this.open < this.max) {
      this.open++;
      return RawHttpConnection.open(this.port).catch((err: unknown) => {
        this.open--;
        throw err;
      });
    }
    return new Promise((resolve) => this.queued.push(resolve));
  }

  private release(connection: RawHttpConnection): void {
    const next = this.queued.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }
}
