/**
 * A real headless Chromium for browser tests: Debian's package (`apt-get install chromium`;
 * .ci/run installs it when missing) driven by playwright-core, with a fresh profile per launch
 * and nothing that talks to the network on its own. CHROMIUM_PATH overrides the binary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh --user-data-dir (removed on close); `locale` sets navigator.language. */
export async function launchChromium(options: { locale?: string } = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'board-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1600, height: 900 },
      ...(options.locale ? { locale: options.locale } : {}),
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A TCP proxy in front of the service, so a test can drop the browser's connections the way a
 * network does: `cut()` destroys every open connection, `hold()` leaves new ones hanging (no
 * answer, no refusal) until `release()`. It records the head of every HTTP request it forwards.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private held = false;
  private readonly waiting: (() => void)[] = [];
  /** Request line and headers of every request seen, in order. */
  readonly requests: string[] = [];
  /** The last Server-Sent Events `id:` forwarded to a client. */
  lastSseId: string | null = null;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      client.pause();
      const connect = () => {
        if (client.destroyed) return;
        const upstream = net.connect(this.targetPort, '127.0.0.1');
        this.sockets.add(upstream);
        upstream.on('close', () => {
          this.sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => undefined);
        client.on('close', () => upstream.destroy());
        client.on('data', (chunk: Buffer) => {
          const text = chunk.toString('latin1');
          if (/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(text))
            this.requests.push(text.split('\r\n\r\n')[0]!);
        });
        upstream.on('data', (chunk: Buffer) => {
          const ids = [...chunk.toString('latin1').matchAll(/^id: (\S+)$/gm)];
          if (ids.length) this.lastSseId = ids.at(-1)![1]!;
        });
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      };
      if (this.held) this.waiting.push(connect);
      else connect();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const connect of this.waiting.splice(0)) connect();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}
