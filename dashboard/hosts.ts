/** Loopback addresses and names (where the dashboard may run without a token). */

/** Whether `host` (an address to bind, or a Host header's name) is a loopback address or `localhost`. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Whether a Host header's name (port removed) names this machine's loopback interface. */
export function isLoopbackName(name: string): boolean {
  return isLoopback(name.toLowerCase().replace(/\.$/, ""));
}
