/**
 * A TCP proxy between MQTT 3.1.1 clients and a real broker that can lose PUBLISH packets the way a
 * broker that acknowledged them and then lost them would (a restart without persistence): a dropped
 * QoS 1 PUBLISH is answered with a PUBACK to its sender, so the sender believes it was delivered.
 * It reads the fixed header and the topic, nothing more; everything else passes byte for byte, in order.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/** `up`: client → broker; `down`: broker → client. */
export type Direction = 'up' | 'down';

export interface ProxiedPublish {
  direction: Direction;
  topic: string;
  qos: number;
  payload: Buffer;
}

/** Decides a PUBLISH's fate; packets behind it in the same direction wait for the answer. */
export type PublishFilter = (p: ProxiedPublish) => 'pass' | 'drop' | Promise<'pass' | 'drop'>;

const PUBLISH = 3;
const PUBACK = 4;

/** Complete packets out of a byte stream (the remaining length is a base-128 varint of up to 4 bytes). */
class PacketReader {
  private buffered = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const packets: Buffer[] = [];
    for (;;) {
      let length = 0;
      let at = 1;
      for (let shift = 0; ; shift += 7, at++) {
        if (at >= this.buffered.length) return packets;
        const byte = this.buffered[at]!;
        length += (byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) break;
        if (shift === 21) throw new Error('malformed MQTT remaining length');
      }
      const end = at + 1 + length;
      if (this.buffered.length < end) return packets;
      packets.push(this.buffered.subarray(0, end));
      this.buffered = this.buffered.subarray(end);
    }
  }
}

function parsePublish(packet: Buffer): { topic: string; qos: number; packetId: number | undefined; payload: Buffer } {
  let at = 1;
  while (packet[at]! & 0x80) at++;
  at++;
  const qos = (packet[0]! >> 1) & 3;
  const topicLength = packet.readUInt16BE(at);
  const topic = packet.subarray(at + 2, at + 2 + topicLength).toString('utf8');
  at += 2 + topicLength;
  const packetId = qos > 0 ? packet.readUInt16BE(at) : undefined;
  if (qos > 0) at += 2;
  return { topic, qos, packetId, payload: Buffer.from(packet.subarray(at)) };
}

export class MqttProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly broker: { host: string; port: number },
    private readonly filter: PublishFilter = () => 'pass',
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const server = createServer((client) => this.connect(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private connect(client: Socket): void {
    const broker = createConnection(this.broker);
    for (const s of [client, broker]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        broker.destroy();
      });
    }
    this.relay('up', client, broker);
    this.relay('down', broker, client);
  }

  /** Packets from `from` go to `to` in order; a dropped QoS 1 PUBLISH is acknowledged back to `from`. */
  private relay(direction: Direction, from: Socket, to: Socket): void {
    const reader = new PacketReader();
    let queue = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      let packets: Buffer[];
      try {
        packets = reader.push(chunk);
      } catch {
        from.destroy();
        return;
      }
      for (const packet of packets) {
        queue = queue
          .then(async () => {
            if (packet[0]! >> 4 !== PUBLISH) {
              to.write(packet);
              return;
            }
            const { topic, qos, packetId, payload } = parsePublish(packet);
            // QoS 2 (unused by the doorbell) passes untouched: losing it would take a faked PUBREC.
            const verdict = qos === 2 ? 'pass' : await this.filter({ direction, topic, qos, payload });
            if (verdict === 'pass') to.write(packet);
            else if (packetId !== undefined) from.write(Buffer.from([PUBACK << 4, 2, packetId >> 8, packetId & 0xff]));
          })
          // A filter that throws ends the connection: never a silent half-relay.
          .catch(() => {
            from.destroy();
            to.destroy();
          });
      }
    });
  }
}
