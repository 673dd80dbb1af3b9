// Live updates: one WebSocket to /api/v1/ws, authenticated by its first message and again whenever the
// access token is renewed; reconnects with exponential backoff and jitter, keeps the socket warm with
// pings, and reports its state. A socket closed for its session (4401) renews the token and reconnects at
// once, or reports that the session ended (signed out in another window, password changed).

const PING_MS = 25000;
const MAX_BACKOFF_MS = 30000;

/**
 * Connect and keep connected. token(): the current access token; renew(): a promise of true when a fresh
 * token was obtained; onTokenChange(listener): subscribe to renewals. Handlers: onEvent(cloudEvent),
 * onState("connecting"|"open"|"lost", info), onReady(isReconnect), onUnauthorized(). Returns {close()}.
 */
export function connectLive({ token, renew, onTokenChange, onEvent, onState, onReady, onUnauthorized }) {
  let socket = null;
  let attempt = 0;
  let everReady = false;
  let stopped = false;
  let pingTimer = null;
  let retryTimer = null;

  const url = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;

  function open() {
    if (stopped) return;
    onState("connecting", { attempt });
    socket = new WebSocket(url());
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token: token() })));
    socket.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === "ready") {
        const reconnect = everReady;
        everReady = true;
        attempt = 0;
        onState("open", {});
        onReady(reconnect);
        clearInterval(pingTimer);
        pingTimer = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send("ping"), PING_MS);
      } else if (data.type !== "pong" && data.type !== "renewed" && data.type !== "error") {
        onEvent(data);
      }
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      if (stopped) return;
      if (event.code === 4401) {
        renew().then((fresh) => {
          if (fresh) open();
          else {
            stopped = true;
            onUnauthorized();
          }
        });
        return;
      }
      const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt);
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      attempt += 1;
      onState("lost", { delay });
      retryTimer = setTimeout(open, delay);
    });
  }

  // Try again at once when the browser says the network is back or the tab becomes visible.
  const nudge = () => {
    if (!stopped && socket && socket.readyState === WebSocket.CLOSED) {
      clearTimeout(retryTimer);
      open();
    }
  };
  window.addEventListener("online", nudge);
  document.addEventListener("visibilitychange", nudge);
  const unsubscribe = onTokenChange((fresh) => {
    if (fresh && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "auth", token: fresh }));
  });

  open();
  return {
    close() {
      stopped = true;
      unsubscribe();
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      window.removeEventListener("online", nudge);
      document.removeEventListener("visibilitychange", nudge);
      if (socket) socket.close();
    },
  };
}
