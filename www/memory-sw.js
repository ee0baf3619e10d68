// Serves the presentation the page holds in memory to the player, under <scope>/memory/.
// The worker keeps nothing: each request is answered by asking the page over a
// MessageChannel, so the fragments exist once, in the page.

const TIMEOUT_MS = 10_000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const prefix = new URL('memory/', self.registration.scope).pathname;
  if (url.origin !== self.location.origin || !url.pathname.startsWith(prefix)) return;
  let path;
  try {
    path = decodeURIComponent(url.pathname.slice(prefix.length));
  } catch {
    event.respondWith(new Response('bad path', { status: 400 }));
    return;
  }
  event.respondWith(answer(event.clientId, path));
});

async function answer(clientId, path) {
  const client = (clientId && await self.clients.get(clientId))
    || (await self.clients.matchAll({ type: 'window' }))[0];
  if (!client) return new Response('no page holds this presentation', { status: 503 });
  const { port1, port2 } = new MessageChannel();
  const reply = new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 504 }), TIMEOUT_MS);
    port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data); };
  });
  client.postMessage({ type: 'smoothcast-get', path }, [port2]);
  const { status, body, contentType } = await reply;
  return new Response(status === 200 ? body : `${status}`, {
    status,
    headers: { 'Content-Type': contentType || 'text/plain', 'Cache-Control': 'no-store' },
  });
}
