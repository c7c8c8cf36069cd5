/** Whether something on 127.0.0.1 accepts a TCP connection on `port` (a server of a test's own is up, or the port is taken). */
import net from 'node:net';

export async function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
